import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';
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
 */
export class GenerationWriter {
  private readonly kept = new Map<string, LRUCache<string, Row | 0>>();

  constructor(
    private readonly knex: Knex,
    private readonly projection: Projection,
    readonly generation: Generation,
    /** The position the stored checkpoint holds. */
    public checkpoint: Position | null = generation.checkpoint,
  ) {}

  /** Applies a batch (none to just move the checkpoint) and moves the checkpoint to `position`. */
  async write(events: readonly RecordedEvent[], position: Position): Promise<void> {
    const batch = new Batch(this.knex, this.generation.schema, (table) => this.keptRows(table));
    if (events.length > 0) await this.projection.apply(events, batch);
    const { sql, bindings } = batchStatement(batch.writes(), this.generation, this.checkpoint, {
      position,
      events: events.length,
      recordedAt: events.at(-1)?.recordedAt ?? null,
    });
    try {
      await this.knex.raw(sql, bindings).options({ name: preparedName(sql) });
    } catch (error) {
      if ((error as { code?: string }).code === GENERATION_LOST) {
        throw new GenerationLostError(`the checkpoint of ${this.generation.schema} moved under this runner, or it was swapped out`);
      }
      throw error;
    }
    batch.keep();
    this.checkpoint = position;
  }

  private keptRows(table: string): LRUCache<string, Row | 0> {
    let rows = this.kept.get(table);
    if (!rows) this.kept.set(table, (rows = new LRUCache({ max: KEPT_ROWS_PER_TABLE })));
    return rows;
  }
}

/**
 * A batch's statement is prepared once per connection and reused: planning it anew each time cost
 * more than running it. Its text only changes with the tables a batch writes, so there are few.
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
  ) {}

  rows<R extends Row>(table: string, key: keyof R & string): TableRows<R> {
    let rows = this.tables.get(table);
    if (!rows) this.tables.set(table, (rows = new KeptTableRows(this.knex, `${this.schema}.${table}`, key, this.keptRows(table))));
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

  /** The batch committed: its rows are what the tables hold now. */
  keep(): void {
    for (const rows of this.tables.values()) rows.keep();
  }
}

/** 0 marks a key known to have no row (lru-cache keeps no undefined). */
class KeptTableRows<R extends Row> implements TableRows<R> {
  private readonly batch = new Map<string, R | 0>();
  private readonly touched = new Set<string>();

  constructor(
    private readonly knex: Knex,
    readonly table: string,
    readonly key: string,
    private readonly kept: LRUCache<string, Row | 0>,
  ) {}

  async load(keys: Iterable<string>): Promise<void> {
    const missing: string[] = [];
    for (const key of new Set(keys)) {
      if (this.batch.has(key)) continue;
      const kept = this.kept.get(key) as R | 0 | undefined;
      if (kept === undefined) missing.push(key);
      else this.batch.set(key, kept);
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
 * and nothing of the batch is written.
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
     SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM moved) THEN projection_generation_lost(?) WHEN ? THEN pg_notify(?, ?) END`;
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
