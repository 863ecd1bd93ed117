import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type {
  AppendResult,
  EventFilter,
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
import { InvalidInputError, StreamNotFoundError, WrongExpectedRevisionError } from '../errors.js';
import { START_POSITION, comparePositions, decodePosition, encodePosition } from '../position.js';
import { assertEventId, assertExpectedRevision, assertFilter, assertMaxCount, assertStreamId, prepareEvents, readStreamStart } from '../validation.js';
import { SESSION_OPTIONS } from '../../platform/database.js';
import { silentLogger, type Logger } from '../../platform/logger.js';
import { OutageLog } from '../../platform/outage-log.js';
import { unreachableDependency } from '../../platform/unreachable.js';
import { AppendQueue } from './append-queue.js';
import { IDEMPOTENCY_WINDOW, STORED_IDS, appendQuery, idempotentResult, type AppendRequest, type StoredId } from './append.sql.js';
import { ChangeFeed } from './change-feed.js';
import { TailReader, type LogBatch, type TailBatch } from './tail-reader.js';
import {
  FIND_DERIVED_EVENT,
  FIND_EVENT,
  READ_LOG,
  READ_SNAPSHOT,
  READ_STREAM_BACKWARDS,
  READ_STREAM_FORWARDS,
  WRITE_SNAPSHOT,
  toRecordedEvent,
  type EventRow,
} from './read.sql.js';

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
  /** Append statements in flight at once; appends arriving meanwhile share the next one. */
  maxConcurrentAppends?: number;
  /** A subscriber held back this long by an open transaction logs which transaction it is. */
  blockedWarningMs?: number;
}

/** Concurrent appends with expected revision 'any' race for the same revision; the loser tries again. */
const ANY_RACE_RETRIES = 10;

interface PendingAppend extends AppendRequest {
  bytes: number;
  attempt: number;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
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
  private readonly appends: AppendQueue<PendingAppend>;
  private readonly tail: TailReader;

  constructor(options: PostgresEventStoreOptions) {
    const clientConfig: pg.ClientConfig = {
      connectionString: options.connectionString,
      application_name: options.applicationName ?? 'dealstream-eventstore',
      options: SESSION_OPTIONS,
    };
    const poolMax = options.poolMax ?? 10;
    this.pool = new pg.Pool({ ...clientConfig, max: poolMax });
    // Few statements in flight make for large shared commits (measured here: 2 beat 5 on a 2-core
    // server), and leave the rest of the pool to readers and subscribers.
    this.appends = new AppendQueue(options.maxConcurrentAppends ?? 2, (batch) => this.writeAppends(batch));
    this.logger = options.logger ?? silentLogger();
    // Every idle connection fails at once when the server goes: whoever reads or appends next reports that outage.
    this.pool.on('error', (error) => this.logger.log(unreachableDependency(error) ? 'debug' : 'warn', 'idle event store connection failed', { error: error.message }));
    this.feed = new ChangeFeed(this.pool, clientConfig, options.notifyIntervalMs ?? 3, this.logger);
    this.maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
    this.batchSize = options.batchSize ?? 2000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.blockedWarningMs = options.blockedWarningMs ?? 5000;
    this.tail = new TailReader((after, limit) => this.readLog(after, undefined, limit), this.batchSize);
  }

  append(streamId: string, events: readonly EventToAppend[], options: { expectedRevision: ExpectedRevision }): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      assertStreamId(streamId);
      const expected = options?.expectedRevision;
      assertExpectedRevision(expected);
      const prepared = prepareEvents(events, this.maxEventBytes);
      const bytes = prepared.reduce((sum, event) => sum + event.data.length + event.metadata.length, 0);
      this.appends.push({ streamId, expected, events: prepared, bytes, attempt: 0, resolve, reject });
    });
  }

  /** Writes appends to distinct streams in one statement; settles every one of them, never rejects. */
  private async writeAppends(batch: PendingAppend[]): Promise<void> {
    let rows: { stream_id: string; transaction_id: string; position: string; revision: string }[];
    try {
      ({ rows } = await this.pool.query(appendQuery(batch)));
    } catch (error) {
      // One append's fault (a lost race, a value PostgreSQL refuses) must not fail the others.
      if (batch.length > 1) await Promise.all(batch.map((append) => this.writeAppends([append])));
      else await this.appendFailed(batch[0]!, error);
      return;
    }
    if (rows.length > 0) this.feed.appended();
    const last = new Map<string, (typeof rows)[number]>();
    for (const row of rows) {
      const seen = last.get(row.stream_id);
      if (!seen || BigInt(row.revision) > BigInt(seen.revision)) last.set(row.stream_id, row);
    }
    await Promise.all(
      batch.map((append) => {
        const row = last.get(append.streamId);
        if (!row) return this.appendRejected(append, false);
        append.resolve({ nextRevision: BigInt(row.revision), position: encodePosition(BigInt(row.transaction_id), BigInt(row.position)) });
      }),
    );
  }

  private async appendFailed(append: PendingAppend, error: unknown): Promise<void> {
    const { code, message } = error as { code?: string; message?: string };
    // Data exceptions (class 22): a value PostgreSQL cannot store, such as a lone UTF-16 surrogate.
    if (code?.startsWith('22')) return append.reject(new InvalidInputError('events', `cannot be stored: ${message}`));
    // A unique violation of (stream_id, revision): another writer took the revision first.
    if (code === '23505') return this.appendRejected(append, true);
    append.reject(error);
  }

  /** A rejected append is a retry of one already stored, a lost race (tried again for 'any'), or a conflict. */
  private async appendRejected(append: PendingAppend, raced: boolean): Promise<void> {
    try {
      const { streamId, expected, events } = append;
      const { current, stored } = await this.storedIds(streamId, expected, events);
      const retried = idempotentResult(expected, events, stored);
      if (retried) return append.resolve(retried);
      if (raced && expected === 'any' && stored.length === 0 && append.attempt++ < ANY_RACE_RETRIES) return this.appends.push(append);
      append.reject(new WrongExpectedRevisionError(streamId, expected, current));
    } catch (error) {
      append.reject(error);
    }
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent> {
    assertStreamId(streamId);
    assertMaxCount(options.maxCount);
    const { backwards, from } = readStreamStart(options);
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

  async findEvent(streamId: string, eventId: string): Promise<RecordedEvent | undefined> {
    assertStreamId(streamId);
    assertEventId(eventId);
    const derived = eventId[14] === '8';
    const { rows } = await this.pool.query<EventRow>({
      name: derived ? 'ds_find_derived_event' : 'ds_find_event',
      text: derived ? FIND_DERIVED_EVENT : FIND_EVENT,
      values: [streamId, eventId],
    });
    return rows[0] && toRecordedEvent(rows[0]);
  }

  async readSnapshot(streamId: string, name: string, version: number): Promise<Snapshot | undefined> {
    assertStreamId(streamId);
    const { rows } = await this.pool.query<{ revision: string; position: string; state: Snapshot['state'] }>({
      name: 'ds_read_snapshot',
      text: READ_SNAPSHOT,
      values: [streamId, name, version],
    });
    const row = rows[0];
    return row && { name, version, revision: BigInt(row.revision), position: row.position, state: row.state };
  }

  async writeSnapshot(streamId: string, snapshot: Snapshot): Promise<void> {
    assertStreamId(streamId);
    const { name, version, revision, position, state } = snapshot;
    await this.pool.query({
      name: 'ds_write_snapshot',
      text: WRITE_SNAPSHOT,
      values: [streamId, name, version, revision.toString(), position, JSON.stringify(state)],
    });
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
    // Once caught up, the subscription reads the tail together with the store's other live ones.
    let live = false;
    let checkpointed: Position | undefined;
    let failures = 0;
    // A subscription retrying through an outage says so once, then once per interval.
    const failing = new OutageLog(this.logger, { down: 'subscription read failed; resuming from its last position' });
    let blockedFor = 0;
    let blockedSince: number | undefined;

    while (!signal.aborted) {
      const generation = this.feed.signal.current;
      let batch: LogBatch;
      try {
        // 'end' starts below the oldest open transaction: nothing committed later can be missed.
        cursor ??= await this.horizon();
        batch = await (next ?? (live ? this.tail.read(cursor, options.filter) : this.readLog(cursor, options.filter, this.batchSize)));
        failures = 0;
        failing.recovered();
      } catch (error) {
        next = undefined;
        if (signal.aborted) break;
        const delay = Math.min(5000, 50 * 2 ** failures++);
        failing.failed(error);
        await sleep(delay, undefined, { signal }).catch(() => undefined);
        continue;
      }
      next = undefined;

      if (!live && batch.events.length === this.batchSize) {
        // Catching up: read the next page while this one is consumed.
        cursor = batch.events[batch.events.length - 1]!.position;
        next = prefetch(this.readLog(cursor, options.filter, this.batchSize));
        for (const event of batch.events) yield event;
        continue;
      }
      for (const event of batch.events) yield event;

      // Everything below the horizon has been delivered: the subscription is live.
      const complete = (batch as Partial<TailBatch>).complete ?? true;
      live = true;
      if (batch.events.length > 0) cursor = batch.events[batch.events.length - 1]!.position;
      if (comparePositions(batch.horizon, cursor) > 0) cursor = batch.horizon;
      if (checkpointed === undefined || comparePositions(cursor, checkpointed) > 0) {
        checkpointed = cursor;
        yield { kind: 'checkpoint', position: cursor, caughtUp: complete };
      }
      if (!complete) continue; // a burst filled the shared read: read on at once
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

