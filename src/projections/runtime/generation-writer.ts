import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';
import { upcast } from '../../domain/upcasters.js';
import type { Position, RecordedEvent } from '../../eventstore/contract.js';
import { CHECKPOINT_CHANNEL, GenerationLostError, type Generation } from './generations.js';
import type { Projection, ProjectionTarget, Row, RowMerge, TableRows } from './projection.js';

/** Rows of each table a writer remembers between batches. */
const KEPT_ROWS_PER_TABLE = 20_000;
/** Raised by the batch statement when the checkpoint moved under the writer (see the migration). */
const GENERATION_LOST = 'DS409';

/**
 * Writes one generation, batch after batch, each batch and its checkpoint in one statement: the
 * batch's inserts and upserts as data-modifying CTEs, then the checkpoint's compare-and-set, which
 * fails the whole statement if another runner moved it or, for the live generation, if it was
 * swapped out. One statement is one round trip and commits or fails as a whole, without BEGIN or
 * COMMIT. The writer is its generation's only writer (the runner holds the projection's lock, a
 * rebuild owns its new generation), so rows it has read or written stay true between batches and
 * are kept: a live batch seldom reads.
 *
 * A batch is applied (`prepare`) and then sent (`commit`); a rebuild prepares the next batch while
 * the statement of the one before runs, so that JavaScript and PostgreSQL work at the same time.
 * Statements go out one after the other, each once the one before has committed; after a failure
 * the writer refuses to go on (its kept rows may no longer be true), and its owner starts afresh
 * from the stored checkpoint.
 */
export class GenerationWriter {
  private readonly kept = new Map<string, LRUCache<string, Row | 0>>();
  /** The last batch prepared: until its statement commits, its rows are newer than the kept ones. */
  private pending: Batch | undefined;
  private sent: Promise<void> = Promise.resolve();
  private failed: unknown;

  constructor(
    private readonly knex: Knex,
    private readonly projection: Projection,
    readonly generation: Generation,
    /** Where the checkpoint stands once every batch handed to the writer has committed. */
    public checkpoint: Position | null = generation.checkpoint,
  ) {}

  /** Applies a batch (none to just move the checkpoint) and moves the checkpoint to `position`. */
  async write(events: readonly RecordedEvent[], position: Position): Promise<void> {
    await this.commit(await this.prepare(events, position));
  }

  /** Applies a batch in memory: its statement, to `commit` next. */
  async prepare(events: readonly RecordedEvent[], position: Position): Promise<PreparedBatch> {
    if (this.failed) throw this.failed;
    const batch = new Batch(this.knex, this.generation.schema, (table) => this.keptRows(table), this.pending);
    // Projections see every event in its type's current shape, live and in rebuilds alike.
    if (events.length > 0) await this.projection.apply(events.map(upcast), batch);
    const statement = batchStatement(batch.writes(), this.generation, this.checkpoint, {
      position,
      events: events.length,
      recordedAt: events.at(-1)?.recordedAt ?? null,
    });
    this.pending = batch;
    this.checkpoint = position;
    return { batch, statement };
  }

  /** Sends a prepared batch once the batches before it have committed; resolves when it has. */
  commit(prepared: PreparedBatch): Promise<void> {
    this.sent = this.sent.then(async () => {
      if (this.failed) throw this.failed;
      const { sql, bindings } = prepared.statement;
      try {
        const statement = this.knex.raw(sql, bindings);
        await statement.options({ name: preparedName(statement.toSQL().toNative().sql) });
      } catch (error) {
        this.failed =
          (error as { code?: string }).code === GENERATION_LOST
            ? new GenerationLostError(`the checkpoint of ${this.generation.schema} moved under this runner, or it was swapped out`)
            : error;
        throw this.failed;
      }
      prepared.batch.keep();
      if (this.pending === prepared.batch) this.pending = undefined;
    });
    return this.sent;
  }

  private keptRows(table: string): LRUCache<string, Row | 0> {
    let rows = this.kept.get(table);
    if (!rows) this.kept.set(table, (rows = new LRUCache({ max: KEPT_ROWS_PER_TABLE })));
    return rows;
  }
}

export interface PreparedBatch {
  batch: Batch;
  statement: Write;
}

/**
 * A batch's statement is prepared once per connection and reused: planning it anew each time cost
 * more than running it. Its text (with the generation's schema and the columns written) only
 * changes with the tables a batch writes, so there are few; the name is the text's hash.
 */
function preparedName(sql: string): string {
  return `ds_batch_${createHash('sha1').update(sql).digest('base64url')}`;
}

interface Write {
  sql: string;
  bindings: Knex.RawBinding[];
}

/** What apply sees of one batch: the tables' rows and the writes it queues. */
class Batch implements ProjectionTarget {
  private readonly tables = new Map<string, KeptTableRows<Row>>();
  private readonly inserts: Write[] = [];

  constructor(
    private readonly knex: Knex,
    private readonly schema: string,
    private readonly keptRows: (table: string) => LRUCache<string, Row | 0>,
    /** The batch before, whose statement may not have committed yet. */
    private before: Batch | undefined,
  ) {}

  rows<R extends Row>(table: string, key: keyof R & string): TableRows<R> {
    let rows = this.tables.get(table);
    if (!rows) {
      rows = new KeptTableRows(this.knex, `${this.schema}.${table}`, key, this.keptRows(table), this.before?.tables.get(table));
      this.tables.set(table, rows);
    }
    return rows as unknown as TableRows<R>;
  }

  insert(table: string, rows: readonly Row[], merge?: RowMerge): void {
    if (rows.length > 0) this.inserts.push(insertStatement(`${this.schema}.${table}`, rows, merge));
  }

  /** Changed rows first, as upserts on their key, then the inserts in the order queued. */
  writes(): Write[] {
    const upserts = [...this.tables.values()].flatMap((rows) => {
      const changed = rows.changed();
      return changed.length > 0 ? [insertStatement(rows.table, changed, { conflict: [rows.key] })] : [];
    });
    return [...upserts, ...this.inserts];
  }

  /** The batch committed: its rows are what the tables hold now (and the batch before is no longer needed). */
  keep(): void {
    this.before = undefined;
    for (const rows of this.tables.values()) rows.keep();
  }
}

/** 0 marks a key known to have no row (lru-cache keeps no undefined). */
class KeptTableRows<R extends Row> implements TableRows<R> {
  readonly batch = new Map<string, R | 0>();
  private readonly touched = new Set<string>();

  constructor(
    private readonly knex: Knex,
    readonly table: string,
    readonly key: string,
    private readonly kept: LRUCache<string, Row | 0>,
    private before: KeptTableRows<R> | undefined,
  ) {}

  async load(keys: Iterable<string>): Promise<void> {
    const missing: string[] = [];
    for (const key of new Set(keys)) {
      if (this.batch.has(key)) continue;
      // The batch before may not have committed: what it holds is newer than the table and the kept rows.
      const known = this.before?.batch.get(key) ?? (this.kept.get(key) as R | 0 | undefined);
      if (known === undefined) missing.push(key);
      else this.batch.set(key, known);
    }
    if (missing.length === 0) return;
    const found = (await this.knex(this.table).whereRaw('?? = ANY(?)', [this.key, missing])) as R[];
    for (const key of missing) this.batch.set(key, 0);
    for (const row of found) this.batch.set(String(row[this.key]), row);
  }

  get(key: string): R | undefined {
    return this.batch.get(key) || undefined;
  }

  set(row: R): void {
    const key = String(row[this.key]);
    this.batch.set(key, row);
    this.touched.add(key);
  }

  changed(): R[] {
    return [...this.touched].map((key) => this.batch.get(key) as R);
  }

  keep(): void {
    this.before = undefined;
    for (const [key, row] of this.batch) this.kept.set(key, row);
  }
}

/**
 * Rows inserted in one statement, however many: they travel as one JSON parameter that
 * json_populate_recordset unpacks with the table's own column types, much cheaper than a VALUES list
 * with a parameter per value. Values are plain JavaScript: objects and arrays for jsonb, arrays for
 * PostgreSQL arrays, strings for numeric and bigint.
 */
function insertStatement(table: string, rows: readonly Row[], merge?: RowMerge): Write {
  const columns = Object.keys(rows[0]!);
  const list = columns.map(() => '??').join(', ');
  let sql = `INSERT INTO ?? AS t (${list}) SELECT ${list} FROM json_populate_recordset(NULL::??, ?::json)`;
  const bindings: Knex.RawBinding[] = [table, ...columns, ...columns, table, JSON.stringify(rows)];
  if (merge) {
    const updated = columns.filter((column) => !merge.conflict.includes(column));
    const set = updated.map((column) => (merge.add?.includes(column) ? '?? = t.?? + EXCLUDED.??' : '?? = EXCLUDED.??'));
    sql += ` ON CONFLICT (${merge.conflict.map(() => '??').join(', ')}) DO ${updated.length ? `UPDATE SET ${set.join(', ')}` : 'NOTHING'}`;
    bindings.push(...merge.conflict, ...updated.flatMap((column) => (merge.add?.includes(column) ? [column, column, column] : [column, column])));
  }
  return { sql, bindings };
}

/**
 * The batch's writes, then the checkpoint: it moves from `previous` only if nobody else moved it
 * (compare-and-set) and, for the live generation, only while it is still the active one (a swap in
 * progress is waited for); an active generation then announces it. Otherwise the statement raises
 * and nothing of the batch is written. The commit does not wait for the disk: a crash can lose the
 * last batches, but only together with their checkpoint, and they are projected again from the log.
 */
function batchStatement(
  writes: readonly Write[],
  generation: Generation,
  previous: Position | null,
  batch: { position: Position; events: number; recordedAt: Date | null },
): Write {
  const live = generation.state === 'active';
  const ctes = writes.map((write, i) => `w${i} AS (${write.sql})`);
  const sql = `WITH ${[...ctes, ''].join(', ')}
       active AS (SELECT 1 FROM projections WHERE name = ? AND active_schema = ? FOR SHARE),
       moved AS (
         UPDATE projection_generations
            SET checkpoint = ?, checkpoint_at = now(), events_applied = events_applied + ?, recorded_at = coalesce(?, recorded_at)
          WHERE schema_name = ? AND checkpoint IS NOT DISTINCT FROM ? AND (NOT ? OR EXISTS (SELECT 1 FROM active))
         RETURNING 1)
     SELECT set_config('synchronous_commit', 'off', true),
            CASE WHEN NOT EXISTS (SELECT 1 FROM moved) THEN projection_generation_lost(?) WHEN ? THEN pg_notify(?, ?) END`;
  return {
    sql,
    bindings: [
      ...writes.flatMap((write) => write.bindings),
      generation.projection, generation.schema,
      batch.position, batch.events, batch.recordedAt,
      generation.schema, previous, live,
      generation.schema, live, CHECKPOINT_CHANNEL, `${generation.projection} ${batch.position}`,
    ],
  };
}
