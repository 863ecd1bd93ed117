/**
 * The event store contract shared by the PostgreSQL and EventStoreDB adapters.
 *
 * Positions are opaque, totally ordered string tokens: compare them only with `comparePositions`.
 * Every `from` position is exclusive: it names the last event already seen (a checkpoint).
 */
export type Position = string;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type ExpectedRevision = bigint | 'no_stream' | 'exists' | 'any';

export interface EventToAppend {
  /** A UUID; generated when absent. Re-appending the same ids at the same place is a no-op. */
  id?: string;
  type: string;
  data: JsonObject;
  metadata?: JsonObject;
}

export interface RecordedEvent {
  id: string;
  streamId: string;
  type: string;
  /** Counts from 0 within the stream. */
  revision: bigint;
  position: Position;
  data: JsonObject;
  metadata: JsonObject;
  recordedAt: Date;
}

export interface AppendResult {
  /** The revision of the last event in the stream after the append: the next expected revision. */
  nextRevision: bigint;
  /** The position of the last appended event. */
  position: Position;
}

/** Filters combine with AND; each list matches any of its entries. */
export interface EventFilter {
  /** Stream categories: the part of the stream id before the first dash. */
  categories?: readonly string[];
  eventTypes?: readonly string[];
  streamIds?: readonly string[];
}

export interface ReadStreamOptions {
  fromRevision?: bigint | 'start' | 'end';
  direction?: 'forwards' | 'backwards';
  maxCount?: number;
}

export interface ReadAllOptions {
  from?: Position | 'start';
  maxCount?: number;
  filter?: EventFilter;
}

export interface SubscribeOptions {
  /**
   * Default 'start'. 'end' delivers what commits after the call; the PostgreSQL adapter starts
   * below its oldest open transaction, so events committed just before may come too.
   */
  from?: Position | 'start' | 'end';
  filter?: EventFilter;
  /** Ends the subscription; the iterator then finishes normally. */
  signal?: AbortSignal;
}

/**
 * Emitted by subscriptions after the events of a read: every matching event up to `position` has
 * been delivered. Filtered subscribers store it so that a restart does not rescan skipped events.
 * `caughtUp` is true once the subscription has delivered everything committed so far (it is live).
 */
export interface Checkpoint {
  kind: 'checkpoint';
  position: Position;
  caughtUp: boolean;
}

export type SubscriptionMessage = RecordedEvent | Checkpoint;

export function isCheckpoint(message: SubscriptionMessage): message is Checkpoint {
  return (message as Checkpoint).kind === 'checkpoint';
}

/**
 * A decider's state saved at a revision of a stream, so that a reader folds only what came after.
 * Snapshots are a cache beside the log, never part of it: losing one costs a longer read, nothing else.
 */
export interface Snapshot {
  /** Whose state it is (a stream may be decided by more than one decider). */
  name: string;
  /** The version of the state's shape: a reader asks for the one it folds. */
  version: number;
  /** The revision of the last event folded in, and that event's position. */
  revision: bigint;
  position: Position;
  state: JsonObject;
}

export interface EventStore {
  append(streamId: string, events: readonly EventToAppend[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult>;
  /** Throws StreamNotFoundError (on first iteration) when the stream has no events. */
  readStream(streamId: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>;
  /**
   * The event with this id in the stream, if it holds one. PostgreSQL finds any event, derived
   * (version 8) ids through an index; EventStoreDB looks among the stream's last LOOKUP_WINDOW events.
   */
  findEvent(streamId: string, eventId: string): Promise<RecordedEvent | undefined>;
  /** The stream's latest snapshot of this name and version, if any. */
  readSnapshot(streamId: string, name: string, version: number): Promise<Snapshot | undefined>;
  /** Saves a snapshot; one of a lower revision never replaces a later one of the same name and version. */
  writeSnapshot(streamId: string, snapshot: Snapshot): Promise<void>;
  /** Events after `from` in position order, up to what is committed when the read starts. */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>;
  /** Catch-up then live: every event after `from` exactly once, in position order, until aborted. */
  subscribe(options?: SubscribeOptions): AsyncIterable<SubscriptionMessage>;
  close(): Promise<void>;
}
