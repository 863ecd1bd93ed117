import { decideAppend, type ExpectedRevision } from './append-decision.js';

/** A place in the transaction log, ordered by commit and then prepare position. */
export interface LogPosition {
  commit: bigint;
  prepare: bigint;
}

export interface ProposedEvent {
  /** Lower-case UUID. */
  id: string;
  type: string;
  isJson: boolean;
  data: Uint8Array;
  customMetadata: Uint8Array;
}

export interface StoredEvent extends ProposedEvent {
  streamId: string;
  revision: bigint;
  position: LogPosition;
  /** Where the next log record starts (the server's "post position" of this one). */
  postPosition: bigint;
  /** .NET ticks (100 ns) since the Unix epoch: what the server sends as `created`. */
  created: bigint;
}

export type AppendResult =
  | {
      outcome: 'written' | 'idempotent';
      /** Undefined when an empty append left the stream without events. */
      lastRevision: bigint | undefined;
      /** Of the last event; undefined for an empty append. */
      position: LogPosition | undefined;
    }
  | { outcome: 'wrong_expected_version'; currentRevision: bigint | undefined };

/** A fresh node writes its own records (chunk header, epoch, system streams) before the first event. */
const FIRST_EVENT_POSITION = 1_142n;
/** Roughly what a prepare record adds to its stream id, type, data and metadata on disk. */
const RECORD_OVERHEAD = 98;
const TICKS_PER_MILLISECOND = 10_000n;
const NO_EVENTS: readonly StoredEvent[] = [];

export function comparePositions(a: LogPosition, b: LogPosition): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  return a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;
}

/**
 * The double's store: one transaction log holding every event in position order, indexed by
 * stream. Positions are byte offsets as in EventStoreDB's log, each event taking the size of its
 * record. Since 20.x the server writes each event of an append as its own prepare record marked
 * committed (no commit record), so an event's $all position is (its log offset, its log offset):
 * commit and prepare differ only for explicit transactions, which gRPC cannot write.
 */
export class EventLog {
  /** Every event in position order. */
  readonly all: StoredEvent[] = [];
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly appendListeners = new Set<() => void>();
  private nextPosition = FIRST_EVENT_POSITION;

  /** Where the next record will be written: the end of the log. */
  get end(): bigint {
    return this.nextPosition;
  }

  stream(streamId: string): readonly StoredEvent[] {
    return this.streams.get(streamId) ?? NO_EVENTS;
  }

  /** Checks the expected revision and writes all the events or none. */
  append(streamId: string, expected: ExpectedRevision, events: readonly ProposedEvent[]): AppendResult {
    const stream = this.stream(streamId);
    const decision = decideAppend(
      stream,
      expected,
      events.map((event) => event.id),
    );
    switch (decision.kind) {
      case 'wrong_expected_version':
        return { outcome: 'wrong_expected_version', currentRevision: lastRevision(stream) };
      case 'idempotent':
        return { outcome: 'idempotent', lastRevision: BigInt(decision.last), position: stream[decision.last]?.position };
    }
    if (events.length === 0) return { outcome: 'written', lastRevision: lastRevision(stream), position: undefined };
    const stored = this.write(streamId, events);
    const last = stored[stored.length - 1];
    for (const listener of this.appendListeners) listener();
    return { outcome: 'written', lastRevision: last?.revision, position: last?.position };
  }

  /** Calls `listener` after every append that stored events; returns how to stop. */
  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** Index in `all` of the first event after `position` (subscriptions start after their position). */
  indexAfter(position: LogPosition): number {
    return firstIndex(this.all, (event) => comparePositions(event.position, position) > 0);
  }

  /** Index in `all` of the first event at or after `position` (forward reads include it). */
  indexAtOrAfter(position: LogPosition): number {
    return firstIndex(this.all, (event) => comparePositions(event.position, position) >= 0);
  }

  /**
   * Index in `all` of the last event a backward read from `position` returns: the server includes
   * an event only when its whole record lies before the position.
   */
  lastIndexBackwardsFrom(position: LogPosition): number {
    const ends = (event: StoredEvent): LogPosition => ({ commit: event.postPosition, prepare: event.postPosition });
    return firstIndex(this.all, (event) => comparePositions(ends(event), position) > 0) - 1;
  }

  private write(streamId: string, events: readonly ProposedEvent[]): StoredEvent[] {
    const stream = this.streams.get(streamId) ?? [];
    this.streams.set(streamId, stream);
    const created = BigInt(Date.now()) * TICKS_PER_MILLISECOND;
    return events.map((event) => {
      const offset = this.nextPosition;
      this.nextPosition += recordSize(streamId, event);
      const record: StoredEvent = {
        ...event,
        streamId,
        revision: BigInt(stream.length),
        position: { commit: offset, prepare: offset },
        postPosition: this.nextPosition,
        created,
      };
      stream.push(record);
      this.all.push(record);
      return record;
    });
  }
}

function lastRevision(stream: readonly StoredEvent[]): bigint | undefined {
  return stream.length === 0 ? undefined : BigInt(stream.length - 1);
}

function recordSize(streamId: string, event: ProposedEvent): bigint {
  const text = Buffer.byteLength(streamId) + Buffer.byteLength(event.type);
  return BigInt(RECORD_OVERHEAD + text + event.data.length + event.customMetadata.length);
}

/** The first index whose event satisfies `isPast`, which holds for a suffix of the log; length if none. */
function firstIndex(events: readonly StoredEvent[], isPast: (event: StoredEvent) => boolean): number {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (isPast(events[middle] as StoredEvent)) high = middle;
    else low = middle + 1;
  }
  return low;
}
