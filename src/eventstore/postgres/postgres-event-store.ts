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
import { assertExpectedRevision, assertFilter, assertMaxCount, assertStreamId, prepareEvents, type PreparedEvent } from '../validation.js';
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
  /** A subscriber held back this long by an open transaction logs which transaction it is. */
  blockedWarningMs?: number;
}

/**
 * One statement, one round trip. The unique (stream_id, revision) key serializes writers of a
 * stream: a writer of revision r + 1 must see revision r committed in its snapshot before its
 * first write gives it a transaction id, so a later revision always has a larger transaction id
 * and order within a stream equals revision order in the (transaction_id, position) feed. A
 * writer that loses a race gets a unique violation and its transaction stores nothing.
 * No rows back means the expected revision did not hold, or ('any', 'exists') the batch's first
 * event is among the stream's last $3 events already: a retry.
 * $1 stream, $2 a revision >= 0 or -1 no_stream, -2 any, -4 exists, $3 the idempotency window;
 * then one event as columns ($4 id, $5 type, $6 data, $7 metadata), or a batch as a JSON array ($4).
 */
function appendSql(rows: { columns: string; firstId: string; from?: string; orderBy?: string }): string {
  return `
  INSERT INTO events (stream_id, revision, event_id, type, data, metadata)
  SELECT $1, stream.revision + ${rows.columns}
    FROM (SELECT coalesce(max(revision), -1) AS revision FROM events WHERE stream_id = $1) stream${rows.from ?? ''}
   WHERE CASE $2::bigint WHEN -2 THEN true
                         WHEN -4 THEN stream.revision >= 0
                         WHEN -1 THEN stream.revision = -1
                         ELSE stream.revision = $2::bigint END
     AND ($2::bigint >= -1 OR NOT EXISTS (
           SELECT 1 FROM events recent
            WHERE recent.stream_id = $1 AND recent.revision > stream.revision - $3::int AND recent.event_id = ${rows.firstId}))
   ${rows.orderBy ?? ''}
  RETURNING transaction_id::text, position, revision`;
}

/** Most appends carry one event: it travels as plain columns, with no JSON array to take apart. */
const APPEND_ONE_SQL = appendSql({ columns: '1, $4::uuid, $5, $6::jsonb, $7::jsonb', firstId: '$4::uuid' });
const APPEND_MANY_SQL = appendSql({
  columns: "j.n, (j.v->>'id')::uuid, j.v->>'type', j.v->'data', j.v->'metadata'",
  firstId: "($4::jsonb->0->>'id')::uuid",
  from: ', jsonb_array_elements($4::jsonb) WITH ORDINALITY AS j(v, n)',
  orderBy: 'ORDER BY j.n',
});

/**
 * After a rejected append: the stream's revision, and where in it these event ids are stored:
 * from revision $3 on, or, when $3 is null ('any', 'exists'), among its last $4 events.
 */
const STORED_IDS = `
  WITH stream AS (SELECT max(revision) AS current FROM events WHERE stream_id = $1)
  SELECT stream.current,
         coalesce((SELECT json_agg(json_build_object('id', event_id, 'revision', revision::text,
                                                     'transactionId', transaction_id::text, 'position', position::text))
                     FROM events
                    WHERE stream_id = $1 AND event_id = ANY ($2::uuid[])
                      AND revision > coalesce($3::bigint - 1, stream.current - $4::int)), '[]'::json) AS stored
    FROM stream`;

/**
 * Event ids are unique within a stream's idempotency window, not across the log (as in
 * EventStoreDB): a global unique index on random UUIDs cost a fifth of the append rate here.
 * Retries at an expected revision are recognised exactly; with 'any' or 'exists', when the batch
 * is among the stream's last IDEMPOTENCY_WINDOW events.
 */
const IDEMPOTENCY_WINDOW = 100;

const EXPECTED_CODES = { no_stream: -1n, any: -2n, exists: -4n } as const;

/** The append statement for a checked batch. */
export function appendQuery(streamId: string, expected: ExpectedRevision, events: PreparedEvent[]): pg.QueryConfig {
  const code = (typeof expected === 'bigint' ? expected : EXPECTED_CODES[expected]).toString();
  const head = [streamId, code, IDEMPOTENCY_WINDOW];
  if (events.length === 1) {
    const [event] = events as [PreparedEvent];
    return { name: 'ds_append_one', text: APPEND_ONE_SQL, values: [...head, event.id, event.type, event.data, event.metadata] };
  }
  const batch = events.map((e) => `{"id":"${e.id}","type":${JSON.stringify(e.type)},"data":${e.data},"metadata":${e.metadata}}`);
  return { name: 'ds_append_many', text: APPEND_MANY_SQL, values: [...head, `[${batch.join(',')}]`] };
}

/** Concurrent appends with expected revision 'any' race for the same revision; the loser tries again. */
const ANY_RACE_RETRIES = 10;

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
    FROM (SELECT x.horizon,
                 -- the newest committed event, found at the end of the primary key whatever the statistics say
                 coalesce((SELECT transaction_id FROM events ORDER BY transaction_id DESC LIMIT 1) >= x.horizon, false) AS blocked
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
  SELECT (SELECT max(revision) FROM events WHERE stream_id = $1) AS stream_revision, e.*
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
  private readonly blockedWarningMs: number;
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
    this.blockedWarningMs = options.blockedWarningMs ?? 5000;
  }

  async append(streamId: string, events: readonly EventToAppend[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    assertStreamId(streamId);
    const expected = options?.expectedRevision;
    assertExpectedRevision(expected);
    const prepared = prepareEvents(events, this.maxEventBytes);
    const query = appendQuery(streamId, expected, prepared);

    for (let attempt = 0; ; attempt++) {
      let raced = false;
      try {
        const { rows } = await this.pool.query<{ transaction_id: string; position: string; revision: string }>(query);
        const last = rows[rows.length - 1];
        if (last) {
          this.feed.appended();
          return { nextRevision: BigInt(last.revision), position: encodePosition(BigInt(last.transaction_id), BigInt(last.position)) };
        }
      } catch (error) {
        const { code: sqlState, message } = error as { code?: string; message?: string };
        // Data exceptions (class 22): a value PostgreSQL cannot store, such as a lone UTF-16 surrogate.
        if (sqlState?.startsWith('22')) throw new InvalidInputError('events', `cannot be stored: ${message}`);
        if (sqlState !== '23505') throw error;
        raced = true; // unique (stream_id, revision): another writer took the revision first
      }
      // Rejected: a retry of an append already stored, a lost race, or a real conflict.
      const { current, stored } = await this.storedIds(streamId, expected, prepared);
      const retried = idempotentResult(expected, prepared, stored);
      if (retried) return retried;
      if (stored.length > 0) throw new WrongExpectedRevisionError(streamId, expected, current);
      if (raced && expected === 'any' && attempt < ANY_RACE_RETRIES) continue;
      throw new WrongExpectedRevisionError(streamId, expected, current);
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
    let limit = Math.min(remaining, this.batchSize);
    let next: Promise<LogBatch> | undefined = remaining > 0 ? this.readLog(cursor, options.filter, limit) : undefined;
    while (next) {
      const batch = await next;
      remaining -= batch.events.length;
      next = undefined;
      if (batch.events.length === limit && remaining > 0) {
        // Read the next page while this one is consumed.
        cursor = batch.events[batch.events.length - 1]!.position;
        limit = Math.min(remaining, this.batchSize);
        next = prefetch(this.readLog(cursor, options.filter, limit));
      }
      for (const event of batch.events) yield event;
    }
  }

  async *subscribe(options: SubscribeOptions = {}): AsyncGenerator<SubscriptionMessage> {
    assertFilter(options.filter);
    const from = options.from ?? 'start';
    if (from !== 'start' && from !== 'end') decodePosition(from, 'from');
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    this.feed.listen();

    let cursor: Position | undefined = from === 'start' ? START_POSITION : from === 'end' ? undefined : from;
    let next: Promise<LogBatch> | undefined;
    let checkpointed: Position | undefined;
    let failures = 0;
    let blockedFor = 0;
    let blockedSince: number | undefined;

    while (!signal.aborted) {
      const generation = this.feed.signal.current;
      let batch: LogBatch;
      try {
        // 'end' starts below the oldest open transaction: nothing committed later can be missed.
        cursor ??= await this.horizon();
        batch = await (next ?? this.readLog(cursor, options.filter, this.batchSize));
        failures = 0;
      } catch (error) {
        next = undefined;
        if (signal.aborted) break;
        const delay = Math.min(5000, 50 * 2 ** failures++);
        this.logger.warn('subscription read failed; resuming from its last position', { error: (error as Error).message, delay });
        await sleep(delay, undefined, { signal }).catch(() => undefined);
        continue;
      }
      next = undefined;

      if (batch.events.length === this.batchSize) {
        // Catching up: read the next page while this one is consumed.
        cursor = batch.events[batch.events.length - 1]!.position;
        next = prefetch(this.readLog(cursor, options.filter, this.batchSize));
        for (const event of batch.events) yield event;
        continue;
      }
      for (const event of batch.events) yield event;

      // Everything below the horizon has been delivered: the subscription is live.
      if (batch.events.length > 0) cursor = batch.events[batch.events.length - 1]!.position;
      if (comparePositions(batch.horizon, cursor) > 0) cursor = batch.horizon;
      if (checkpointed === undefined || comparePositions(cursor, checkpointed) > 0) {
        checkpointed = cursor;
        yield { kind: 'checkpoint', position: cursor, caughtUp: true };
      }
      // Committed events wait behind an open transaction: look again soon rather than at the next poll.
      blockedFor = batch.blocked ? Math.min(32, Math.max(1, blockedFor * 2)) : 0;
      if (!batch.blocked) blockedSince = undefined;
      else if (blockedSince === undefined) blockedSince = Date.now();
      else if (Date.now() - blockedSince >= this.blockedWarningMs) {
        void this.reportOldestTransaction(Date.now() - blockedSince);
        blockedSince = Infinity; // once per episode
      }
      await this.feed.signal.wait(generation, blockedFor || this.pollIntervalMs, signal);
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.feed.close();
    await this.pool.end();
  }

  private async storedIds(
    streamId: string,
    expected: ExpectedRevision,
    batch: { id: string }[],
  ): Promise<{ current: bigint | 'no_stream'; stored: StoredId[] }> {
    // Where a retry of this batch would sit: right after the expected revision, or near the end.
    const from = expected === 'no_stream' ? 0n : typeof expected === 'bigint' ? expected + 1n : null;
    const { rows } = await this.pool.query<{ current: string | null; stored: StoredId[] }>({
      name: 'ds_stored_ids',
      text: STORED_IDS,
      values: [streamId, batch.map((event) => event.id), from?.toString() ?? null, IDEMPOTENCY_WINDOW + batch.length],
    });
    const row = rows[0]!;
    return { current: row.current === null ? 'no_stream' : BigInt(row.current), stored: row.stored };
  }

  /** Names the transaction that holds subscribers back: every open transaction in the cluster counts. */
  private async reportOldestTransaction(blockedMs: number): Promise<void> {
    try {
      const { rows } = await this.pool.query(
        `SELECT pid, datname AS database, application_name AS application, state,
                round(extract(epoch FROM now() - xact_start) * 1000) AS "ageMs", left(query, 200) AS query
           FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 1`,
      );
      this.logger.warn('an open transaction holds back event store subscribers; keep transactions short', {
        blockedMs,
        oldestTransaction: rows[0],
      });
    } catch (error) {
      this.logger.warn('event store subscribers are held back by an open transaction', { blockedMs, error: (error as Error).message });
    }
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

/** A read started ahead of its use; its failure surfaces where it is awaited, not as an unhandled rejection. */
function prefetch<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
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

interface StoredId {
  id: string;
  revision: string;
  transactionId: string;
  position: string;
}

/**
 * The original result when every id of the batch is already stored in the stream, in order, at
 * the place the expected revision names (anywhere in the window for 'any' and 'exists').
 */
function idempotentResult(expected: ExpectedRevision, batch: { id: string }[], stored: StoredId[]): AppendResult | undefined {
  const byId = new Map(stored.map((row) => [row.id, row]));
  const first = byId.get(batch[0]!.id);
  if (!first || stored.length !== batch.length) return undefined;
  const start = BigInt(first.revision);
  if (expected === 'no_stream' ? start !== 0n : typeof expected === 'bigint' && start !== expected + 1n) return undefined;
  if (!batch.every((event, i) => byId.get(event.id)?.revision === String(start + BigInt(i)))) return undefined;
  const last = byId.get(batch[batch.length - 1]!.id)!;
  return { nextRevision: BigInt(last.revision), position: encodePosition(BigInt(last.transactionId), BigInt(last.position)) };
}
