import { setTimeout as sleep } from 'node:timers/promises';
import {
  ANY,
  BACKWARDS,
  CancelledError,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError as EsdbStreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
  jsonEvent,
  type AppendExpectedRevision,
  type AppendResult as EsdbAppendResult,
  type RecordedEvent as EsdbRecordedEvent,
  type EventData,
  type StreamingRead,
} from '@eventstore/db-client';
import type {
  AppendResult,
  Checkpoint,
  EventStore,
  EventToAppend,
  ExpectedRevision,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  Snapshot,
  SubscribeOptions,
  SubscriptionMessage,
} from '../contract.js';
import { EventStoreUnavailableError, InvalidInputError, StreamNotFoundError, WrongExpectedRevisionError } from '../errors.js';
import { matchesFilter } from '../filter.js';
import { START_POSITION, comparePositions } from '../position.js';
import { assertEventId, assertExpectedRevision, assertFilter, assertMaxCount, assertStreamId, prepareEvents, readStreamStart } from '../validation.js';
import { silentLogger, type Logger } from '../../platform/logger.js';
import { OutageLog } from '../../platform/outage-log.js';
import { SNAPSHOT_STREAM_PREFIX, isHiddenStream, serverFilter, snapshotStreamId } from './filters.js';
import { subscribeInOrder, type OrderedSubscription } from './ordered-subscription.js';
import { fromToken, toToken } from './positions.js';
import { toRecordedEvent } from './recorded-event.js';

export interface EventStoreDBEventStoreOptions {
  /** `esdb://…`; leave `throwOnAppendFailure` at its default (true). */
  connectionString: string;
  /** Largest serialized event accepted. */
  maxEventBytes?: number;
  logger?: Logger;
}

/** Events per read of `$all`; a read that fills its page goes on from its last event. */
const READ_ALL_PAGE = 1000;
/**
 * How far back `findEvent` looks: EventStoreDB finds events by position, not by id. A repeated
 * command is recognised while its events are among its stream's last this many.
 */
export const LOOKUP_WINDOW = 10_000;
/** Snapshots read back to find the latest: concurrent writers may store them out of order. */
const SNAPSHOTS_READ = 8;
/** An append the server did not answer is tried this many times in all (the same ids make it idempotent). */
export const APPEND_ATTEMPTS = 4;

const EXPECTED_REVISION: Record<Exclude<ExpectedRevision, bigint>, AppendExpectedRevision> = {
  no_stream: NO_STREAM,
  exists: STREAM_EXISTS,
  any: ANY,
};

export class EventStoreDBEventStore implements EventStore {
  private readonly client: EventStoreDBClient;
  private readonly maxEventBytes: number;
  private readonly logger: Logger;
  private readonly closing = new AbortController();

  constructor(options: EventStoreDBEventStoreOptions) {
    // With it off, the 6.2.1 client misreports a failed batch append as a result: refuse it at once.
    if (/[?&]throwOnAppendFailure=false/i.test(options.connectionString)) {
      throw new InvalidInputError('connectionString', 'must not set throwOnAppendFailure=false');
    }
    this.client = EventStoreDBClient.connectionString(options.connectionString);
    this.maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
    this.logger = options.logger ?? silentLogger();
  }

  async append(streamId: string, events: readonly EventToAppend[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    assertStreamId(streamId);
    if (streamId.startsWith(SNAPSHOT_STREAM_PREFIX)) throw new InvalidInputError('streamId', `must not start with "${SNAPSHOT_STREAM_PREFIX}" (snapshots live there)`);
    const expected = options?.expectedRevision;
    assertExpectedRevision(expected);
    // Validated and given ids here; the client serializes data and metadata itself, as JSON.
    const proposed = prepareEvents(events, this.maxEventBytes).map((event, index) =>
      jsonEvent({ id: event.id, type: event.type, data: events[index]!.data, metadata: events[index]!.metadata ?? {} }),
    );
    const result = await this.appendTrying(streamId, proposed, expected);
    return { nextRevision: result.nextExpectedRevision, position: await this.lastAppendedPosition(streamId, proposed.length, result) };
  }

  /** Appends, trying again while the server cannot be reached: a retry with the same ids stores nothing twice. */
  private async appendTrying(streamId: string, events: EventData[], expected: ExpectedRevision): Promise<EsdbAppendResult> {
    const expectedRevision = typeof expected === 'bigint' ? expected : EXPECTED_REVISION[expected];
    for (let attempt = 1; ; attempt++) {
      let result: EsdbAppendResult;
      try {
        result = await this.client.appendToStream(streamId, events, { expectedRevision });
      } catch (error) {
        if (error instanceof WrongExpectedVersionError) throw new WrongExpectedRevisionError(streamId, expected, error.actualVersion);
        // Unavailable: the server or the connection is down; cancelled: the client dropped a failed channel.
        if (!(error instanceof UnavailableError || error instanceof CancelledError)) throw error;
        if (attempt === APPEND_ATTEMPTS || this.closing.signal.aborted) throw new EventStoreUnavailableError(streamId, attempt, error);
        // The last failure reaches the caller, which reports the outage: each try need not.
        this.logger.debug('EventStoreDB did not answer an append; trying again', { streamId, attempt, error: error.message });
        await sleep(50 * 2 ** (attempt - 1));
        continue;
      }
      return result;
    }
  }

  /**
   * EventStoreDB answers an append with one position for all of it, and an idempotent retry with
   * none. For one event that is its position. For several, which event's position it is (and whether
   * both halves are one event's) is not documented and the double cannot show what real servers
   * do, so the last event's position is read back: a token that named an earlier event would let a
   * query given it answer before the later events are projected.
   */
  private async lastAppendedPosition(streamId: string, count: number, result: EsdbAppendResult): Promise<Position> {
    if (count === 1 && result.position) return toToken(result.position);
    let position: Position | undefined;
    for await (const event of this.readStream(streamId, { fromRevision: result.nextExpectedRevision, maxCount: 1 })) position = event.position;
    if (position === undefined) throw new Error(`EventStoreDB did not return revision ${result.nextExpectedRevision} of ${streamId}, just appended`);
    return position;
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent> {
    assertStreamId(streamId);
    assertMaxCount(options.maxCount);
    const { backwards, from } = readStreamStart(options);
    if (options.maxCount === 0 || (from === 'end' && !backwards)) return;
    const read = this.client.readStream(streamId, { fromRevision: from, direction: backwards ? BACKWARDS : FORWARDS, maxCount: options.maxCount });
    try {
      for await (const resolved of readThrough(read)) if (resolved.event) yield toRecordedEvent(resolved.event);
    } catch (error) {
      throw error instanceof EsdbStreamNotFoundError ? new StreamNotFoundError(streamId) : error;
    }
  }

  async findEvent(streamId: string, eventId: string): Promise<RecordedEvent | undefined> {
    assertEventId(eventId);
    const id = eventId.toLowerCase();
    try {
      for await (const event of this.readStream(streamId, { direction: 'backwards', fromRevision: 'end', maxCount: LOOKUP_WINDOW })) {
        if (event.id.toLowerCase() === id) return event;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return undefined;
  }

  async readSnapshot(streamId: string, name: string, version: number): Promise<Snapshot | undefined> {
    assertStreamId(streamId);
    let latest: Snapshot | undefined;
    try {
      const read = this.client.readStream(snapshotStreamId(streamId, name, version), { direction: BACKWARDS, fromRevision: END, maxCount: SNAPSHOTS_READ });
      for await (const { event } of readThrough(read)) {
        const data = event?.data as { revision?: string; position?: string; state?: Snapshot['state'] } | undefined;
        if (!data?.revision || !data.position || !data.state) continue;
        const revision = BigInt(data.revision);
        if (!latest || revision > latest.revision) latest = { name, version, revision, position: data.position, state: data.state };
      }
    } catch (error) {
      if (!(error instanceof EsdbStreamNotFoundError)) throw error;
    }
    return latest;
  }

  async writeSnapshot(streamId: string, snapshot: Snapshot): Promise<void> {
    assertStreamId(streamId);
    const { name, version, revision, position, state } = snapshot;
    const event = jsonEvent({ type: 'Snapshot', data: { revision: revision.toString(), position, state } });
    await this.client.appendToStream(snapshotStreamId(streamId, name, version), [event], { expectedRevision: ANY });
  }

  /** Pages through `$all` forwards, filtering here: the client's `readAll` takes no filter. */
  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent> {
    assertMaxCount(options.maxCount);
    assertFilter(options.filter);
    let cursor = options.from === undefined || options.from === 'start' ? START_POSITION : options.from;
    fromToken(cursor, 'from');
    let remaining = options.maxCount ?? Infinity;
    // The read ends at what is committed when it starts.
    const head = remaining > 0 ? await this.head() : undefined;
    while (head !== undefined && comparePositions(cursor, head) < 0) {
      let read = 0;
      for await (const { event } of readThrough(this.client.readAll({ fromPosition: fromToken(cursor, 'from'), maxCount: READ_ALL_PAGE }))) {
        read++;
        if (!event) continue;
        const position = toToken(event.position);
        if (comparePositions(position, cursor) <= 0) continue; // a read from a position includes the event there
        if (comparePositions(position, head) > 0) return;
        cursor = position;
        if (isHiddenStream(event.streamId) || !matchesFilter(event, options.filter)) continue;
        yield toRecordedEvent(event, position);
        if (--remaining === 0) return;
      }
      if (read < READ_ALL_PAGE) return;
    }
  }

  /**
   * Catch-up then live over subscriptions to `$all`. Any failure, or the server ending one,
   * resubscribes from the last position delivered: the client reconnects its channel but not its
   * subscriptions.
   */
  async *subscribe(options: SubscribeOptions = {}): AsyncGenerator<SubscriptionMessage> {
    assertFilter(options.filter);
    const { filter } = options;
    const from = options.from ?? 'start';
    if (from !== 'start' && from !== 'end') fromToken(from, 'from');
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;

    /** Every event up to here has been delivered or filtered out; undefined before the first. */
    let delivered: Position | undefined = from === 'start' || from === 'end' ? undefined : from;
    let endResolved = from !== 'end';
    /**
     * Catching up, the server applies what it can of the filter (see `serverFilter`). Live, every
     * event comes and is filtered here, so checkpoints follow the log at once past the events left
     * out (read-your-writes waits on them): the server checkpoints only every so many events.
     */
    let filterOnServer = true;
    let live = false;
    let failures = 0;
    // Resubscribing through an outage says so once, then once per interval.
    const ending = new OutageLog(this.logger, { down: 'EventStoreDB subscription ended; resubscribing from its last position' });
    let last: Checkpoint | undefined;
    /** A checkpoint where the subscription is, unless it would repeat the last one. */
    const checkpoint = (): Checkpoint | undefined => {
      const position = delivered ?? START_POSITION;
      if (last?.position === position && last.caughtUp === live) return undefined;
      return (last = { kind: 'checkpoint', position, caughtUp: live });
    };

    while (!signal.aborted) {
      let subscription: OrderedSubscription | undefined;
      const stop = () => subscription?.close();
      signal.addEventListener('abort', stop, { once: true });
      let failure: unknown;
      let goingLive = false;
      try {
        if (!endResolved) {
          // 'end' is where the log ends when the subscription starts; resubscribing goes on from there.
          delivered = await this.head();
          endResolved = true;
          if (signal.aborted) break;
        }
        const start = delivered === undefined ? START : fromToken(delivered, 'from');
        subscription = subscribeInOrder(this.client, start, serverFilter(filterOnServer ? filter : undefined));
        for await (const message of subscription.messages) {
          failures = 0;
          ending.recovered();
          let next: Checkpoint | undefined;
          if (message.kind === 'event') {
            const { event } = message;
            const position = toToken(event.position);
            if (delivered !== undefined && comparePositions(position, delivered) <= 0) continue; // never twice
            delivered = position;
            if (!isHiddenStream(event.streamId) && matchesFilter(event, filter)) {
              const recorded = this.foreignOrRecorded(event, position);
              if (recorded) yield recorded;
            }
            // Live and nothing more has arrived: say where the subscription is, as after a read.
            if (live && subscription.buffered === 0) next = checkpoint();
          } else if (message.kind === 'checkpoint') {
            const position = toToken(message.position);
            if (delivered === undefined || comparePositions(position, delivered) > 0) delivered = position;
            next = checkpoint();
          } else {
            live = message.kind === 'caughtUp';
            if (live) next = checkpoint();
          }
          if (next) yield next;
          if (live && filterOnServer && filter) {
            goingLive = true;
            break;
          }
        }
      } catch (error) {
        failure = error;
      } finally {
        signal.removeEventListener('abort', stop);
        subscription?.close();
      }
      if (signal.aborted) break;
      if (goingLive) {
        filterOnServer = false;
        continue;
      }
      live = false;
      filterOnServer = true;
      const delay = Math.min(5000, 50 * 2 ** failures++);
      ending.failed(failure === undefined ? 'ended by the server' : failure);
      await sleep(delay, undefined, { signal }).catch(() => undefined);
    }
  }

  /**
   * An event someone else wrote (data that is not a JSON object) would stop a subscription for good:
   * it is left out, with a warning, and the subscription goes on. Reads of a stream or of the log
   * still fail on it, for the reader to see.
   */
  private foreignOrRecorded(event: EsdbRecordedEvent, position: Position): RecordedEvent | undefined {
    try {
      return toRecordedEvent(event, position);
    } catch (error) {
      this.logger.warn('EventStoreDB subscription left out an event it cannot read', { error: (error as Error).message });
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.client.dispose();
  }

  /** The position of the last event in `$all`, or undefined when there is none. */
  private async head(): Promise<Position | undefined> {
    let head: Position | undefined;
    for await (const { event } of readThrough(this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }))) {
      if (event) head = toToken(event.position);
    }
    return head;
  }
}

/**
 * Reads a client stream. Leaving early cancels its gRPC call and lets the rest flow away: a call
 * left paused would never end, stay open, and keep `close()` (the client's dispose) waiting.
 * The adapter's own one-event reads run to their end instead of leaving early: servers close a
 * connection that resets streams in bursts (HTTP/2 rapid-reset protection), and a cancel per
 * append would be one.
 */
async function* readThrough<T>(read: StreamingRead<T>): AsyncGenerator<T> {
  let ended = false;
  try {
    for await (const item of read.iterator({ destroyOnReturn: false })) yield item as T;
    ended = true;
  } finally {
    if (!ended) {
      read.cancel().catch(() => undefined);
      read.resume();
    }
  }
}
