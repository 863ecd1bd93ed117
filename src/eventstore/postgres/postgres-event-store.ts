import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type {
  AppendResult,
  EventFilter,
  EventStore,
  EventToAppend,
  ExpectedRevision,
  JsonObject,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  SubscribeOptions,
  SubscriptionMessage,
} from '../contract.js';
import { InvalidInputError, StreamNotFoundError, WrongExpectedRevisionError } from '../errors.js';
import { START_POSITION, comparePositions, decodePosition, encodePosition } from '../position.js';
import { assertExpectedRevision, assertFilter, assertMaxCount, assertStreamId, prepareEvents } from '../validation.js';
import { silentLogger, type Logger } from '../../platform/logger.js';
import { ChangeFeed } from './change-feed.js';

export interface PostgresEventStoreOptions {
  connectionString: string;
  poolMax?: number;
  /** Largest serialized event accepted. */
  maxEventBytes?: number;
  /** Rows per read of the log; larger batches catch up faster. */
  batchSize?: number;
  /** Subscribers poll this often when no NOTIFY arrives. */
  pollIntervalMs?: number;
  notifyIntervalMs?: number;
  logger?: Logger;
  applicationName?: string;
}

const EXPECTED_CODES = { no_stream: -1n, any: -2n, exists: -4n } as const;

const EVENT_COLUMNS = `
  lpad(to_hex(ev.transaction_id::text::bigint), 16, '0') || lpad(to_hex(ev.position), 16, '0') AS token,
  ev.stream_id, ev.revision, ev.event_id, ev.type, ev.data, ev.metadata, ev.recorded_at`;

/**
 * Reads the log after ($1, $2) in (transaction_id, position) order, only below the oldest
 * transaction still open, so no event can later commit behind what was read. `horizon` is that
 * bound; `blocked` says committed events wait above it (a reader should look again soon).
 */
const READ_LOG = `
  SELECT h.horizon::text AS horizon, h.blocked, e.*
    FROM (SELECT x.horizon, EXISTS (SELECT 1 FROM events WHERE transaction_id >= x.horizon) AS blocked
            FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) x) h
    LEFT JOIN LATERAL (
      SELECT ${EVENT_COLUMNS}
        FROM events ev
       WHERE (ev.transaction_id, ev.position) > ($1::xid8, $2::bigint)
         AND ev.transaction_id < h.horizon
         AND ($4::text[] IS NULL OR split_part(ev.stream_id, '-', 1) = ANY ($4::text[]))
         AND ($5::text[] IS NULL OR ev.type = ANY ($5::text[]))
         AND ($6::text[] IS NULL OR ev.stream_id = ANY ($6::text[]))
       ORDER BY ev.transaction_id, ev.position
       LIMIT $3
    ) e ON true`;

const READ_STREAM_FORWARDS = `
  SELECT (SELECT revision FROM streams WHERE stream_id = $1) AS stream_revision, e.*
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
      SELECT ${EVENT_COLUMNS} FROM events ev
       WHERE ev.stream_id = $1 AND ev.revision >= $2 ORDER BY ev.revision LIMIT $3
    ) e ON true`;

const READ_STREAM_BACKWARDS = READ_STREAM_FORWARDS.replace('ev.revision >= $2 ORDER BY ev.revision', 'ev.revision <= $2 ORDER BY ev.revision DESC');

interface EventRow {
  token: string | null;
  stream_id: string;
  revision: string;
  event_id: string;
  type: string;
  data: JsonObject;
  metadata: JsonObject;
  recorded_at: Date;
}

interface LogBatch {
  events: RecordedEvent[];
  /** Every event below this position has been read (or filtered out). */
  horizon: Position;
  blocked: boolean;
}

export class PostgresEventStore implements EventStore {
  private readonly pool: pg.Pool;
  private readonly feed: ChangeFeed;
  private readonly maxEventBytes: number;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger;
  private readonly closing = new AbortController();

  constructor(options: PostgresEventStoreOptions) {
    const clientConfig: pg.ClientConfig = {
      connectionString: options.connectionString,
      application_name: options.applicationName ?? 'dealstream-eventstore',
      // Transactions left open hold back every subscriber, so idle ones are cut short.
      options: '-c idle_in_transaction_session_timeout=60000',
    };
    this.pool = new pg.Pool({ ...clientConfig, max: options.poolMax ?? 10 });
    this.logger = options.logger ?? silentLogger();
    this.pool.on('error', (error) => this.logger.warn('idle event store connection failed', { error: error.message }));
    this.feed = new ChangeFeed(this.pool, clientConfig, options.notifyIntervalMs ?? 3, this.logger);
    this.maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
    this.batchSize = options.batchSize ?? 2000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  async append(streamId: string, events: readonly EventToAppend[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    assertStreamId(streamId);
    const expected = options?.expectedRevision;
    assertExpectedRevision(expected);
    const prepared = prepareEvents(events, this.maxEventBytes);
    const payload = '[' + prepared.map((event) => event.json).join(',') + ']';
    const code = typeof expected === 'bigint' ? expected : EXPECTED_CODES[expected];

    let row: { outcome: string; actual: string | null; next_revision: string; transaction_id: string; last_position: string };
    try {
      const result = await this.pool.query({
        name: 'ds_append',
        text: 'SELECT * FROM append_events($1, $2, $3::jsonb)',
        values: [streamId, code.toString(), payload],
      });
      row = result.rows[0];
    } catch (error) {
      throw translateAppendError(error);
    }

    switch (row.outcome) {
      case 'ok':
        this.feed.appended();
        return appendResult(row);
      case 'idempotent':
        return appendResult(row);
      case 'conflict':
        throw new WrongExpectedRevisionError(streamId, expected, row.actual === null ? 'no_stream' : BigInt(row.actual));
      default:
        throw new InvalidInputError('events', 'an event id is already stored in another stream');
    }
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent> {
    assertStreamId(streamId);
    assertMaxCount(options.maxCount);
    const backwards = options.direction === 'backwards';
    if (options.direction !== undefined && options.direction !== 'forwards' && !backwards) {
      throw new InvalidInputError('direction', 'must be "forwards" or "backwards"');
    }
    const from = options.fromRevision ?? (backwards ? 'end' : 'start');
    if (!(from === 'start' || from === 'end' || (typeof from === 'bigint' && from >= 0n))) {
      throw new InvalidInputError('fromRevision', 'must be a revision (bigint >= 0n), "start" or "end"');
    }
    let next = from === 'start' ? 0n : from === 'end' ? (1n << 62n) : from;
    if (from === 'end' && !backwards) return;
    let remaining = options.maxCount ?? Infinity;
    let first = true;

    while (remaining > 0) {
      const limit = Math.min(remaining, this.batchSize);
      const { rows } = await this.pool.query<EventRow & { stream_revision: string | null }>({
        name: backwards ? 'ds_read_stream_backwards' : 'ds_read_stream_forwards',
        text: backwards ? READ_STREAM_BACKWARDS : READ_STREAM_FORWARDS,
        values: [streamId, next.toString(), limit],
      });
      if (first && rows[0]?.stream_revision === null) throw new StreamNotFoundError(streamId);
      first = false;
      const events = rows.filter((row) => row.token !== null).map(toRecordedEvent);
      for (const event of events) yield event;
      if (events.length < limit) return;
      remaining -= events.length;
      const last = events[events.length - 1]!.revision;
      if (backwards && last === 0n) return;
      next = backwards ? last - 1n : last + 1n;
    }
  }

  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent> {
    assertMaxCount(options.maxCount);
    assertFilter(options.filter);
    let cursor = options.from === undefined || options.from === 'start' ? START_POSITION : options.from;
    decodePosition(cursor, 'from');
    let remaining = options.maxCount ?? Infinity;
    while (remaining > 0) {
      const limit = Math.min(remaining, this.batchSize);
      const batch = await this.readLog(cursor, options.filter, limit);
      for (const event of batch.events) yield event;
      if (batch.events.length < limit) return;
      remaining -= batch.events.length;
      cursor = batch.events[batch.events.length - 1]!.position;
    }
  }

  async *subscribe(options: SubscribeOptions = {}): AsyncGenerator<SubscriptionMessage> {
    assertFilter(options.filter);
    const from = options.from ?? 'end';
    if (from !== 'start' && from !== 'end') decodePosition(from, 'from');
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    this.feed.listen();

    let cursor: Position | undefined = from === 'start' ? START_POSITION : from === 'end' ? undefined : from;
    let checkpointed: Position | undefined;
    let failures = 0;
    let blockedFor = 0;

    while (!signal.aborted) {
      const generation = this.feed.signal.current;
      let batch: LogBatch;
      try {
        // 'end' starts below the oldest open transaction: nothing committed later can be missed.
        cursor ??= await this.horizon();
        batch = await this.readLog(cursor, options.filter, this.batchSize);
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof InvalidInputError) throw error;
        const delay = Math.min(5000, 50 * 2 ** failures++);
        this.logger.warn('subscription read failed; resuming from its last position', { error: (error as Error).message, delay });
        await sleep(delay, undefined, { signal }).catch(() => undefined);
        continue;
      }

      for (const event of batch.events) yield event;
      if (batch.events.length > 0) cursor = batch.events[batch.events.length - 1]!.position;
      if (batch.events.length === this.batchSize) continue;

      // Everything below the horizon has been delivered: the subscription is live.
      if (comparePositions(batch.horizon, cursor) > 0) cursor = batch.horizon;
      if (checkpointed === undefined || comparePositions(cursor, checkpointed) > 0) {
        checkpointed = cursor;
        yield { kind: 'checkpoint', position: cursor, caughtUp: true };
      }
      // Committed events wait behind an open transaction: look again soon rather than at the next poll.
      blockedFor = batch.blocked ? Math.min(32, Math.max(1, blockedFor * 2)) : 0;
      await this.feed.signal.wait(generation, blockedFor || this.pollIntervalMs, signal);
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.feed.close();
    await this.pool.end();
  }

  private async horizon(): Promise<Position> {
    const { rows } = await this.pool.query<{ horizon: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon');
    return encodePosition(BigInt(rows[0]!.horizon), 0n);
  }

  private async readLog(after: Position, filter: EventFilter | undefined, limit: number): Promise<LogBatch> {
    const [transactionId, position] = decodePosition(after, 'from');
    const { rows } = await this.pool.query<EventRow & { horizon: string; blocked: boolean }>({
      name: 'ds_read_log',
      text: READ_LOG,
      values: [
        transactionId.toString(),
        position.toString(),
        limit,
        filter?.categories ?? null,
        filter?.eventTypes ?? null,
        filter?.streamIds ?? null,
      ],
    });
    const head = rows[0]!;
    return {
      events: head.token === null ? [] : rows.map(toRecordedEvent),
      horizon: encodePosition(BigInt(head.horizon), 0n),
      blocked: head.blocked,
    };
  }
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    type: row.type,
    revision: BigInt(row.revision),
    position: row.token!,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at,
  };
}

function appendResult(row: { next_revision: string; transaction_id: string; last_position: string }): AppendResult {
  return {
    nextRevision: BigInt(row.next_revision),
    position: encodePosition(BigInt(row.transaction_id), BigInt(row.last_position)),
  };
}

function translateAppendError(error: unknown): unknown {
  const { code, constraint, message } = error as { code?: string; constraint?: string; message?: string };
  if (code === '23505' && constraint === 'events_event_id_key') {
    return new InvalidInputError('events', 'an event id is already stored elsewhere');
  }
  // Data exceptions (class 22): a value PostgreSQL cannot store, such as a lone UTF-16 surrogate.
  if (code?.startsWith('22')) return new InvalidInputError('events', `cannot be stored: ${message}`);
  return error;
}
