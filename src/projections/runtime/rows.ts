import type { Knex } from 'knex';

type Row = Record<string, unknown>;

/**
 * Inserts rows in one statement, however many: they travel as one JSON parameter that
 * json_populate_recordset unpacks with the table's own column types, which is much cheaper than a
 * multi-row VALUES list with a parameter per value. Values are plain JavaScript: objects and arrays
 * for jsonb, arrays for PostgreSQL arrays, strings for numeric and bigint. `merge` turns it into an
 * upsert on the conflict columns.
 */
export async function insertRows(trx: Knex.Transaction, table: string, rows: readonly Row[], merge?: { conflict: string[] }): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const list = columns.map(() => '??').join(', ');
  let sql = `INSERT INTO ?? (${list}) SELECT ${list} FROM json_populate_recordset(NULL::??, ?::json)`;
  const bindings: unknown[] = [table, ...columns, ...columns, table, JSON.stringify(rows)];
  if (merge) {
    const updated = columns.filter((column) => !merge.conflict.includes(column));
    sql += ` ON CONFLICT (${merge.conflict.map(() => '??').join(', ')}) DO ${updated.length ? `UPDATE SET ${updated.map(() => '?? = EXCLUDED.??').join(', ')}` : 'NOTHING'}`;
    bindings.push(...merge.conflict, ...updated.flatMap((column) => [column, column]));
  }
  await trx.raw(sql, bindings as Knex.RawBinding[]);
}

/**
 * The rows of one table that a batch touches, keyed by one column: loaded in one query, changed in
 * memory event by event, written back in one upsert. Keeps a rebuild at a few statements per batch.
 */
export class RowCache<R extends Row> {
  private readonly rows = new Map<string, R | undefined>();
  private readonly changed = new Set<string>();

  constructor(
    private readonly trx: Knex.Transaction,
    private readonly table: string,
    private readonly key: keyof R & string,
  ) {}

  async load(keys: Iterable<string>): Promise<void> {
    const missing = [...new Set(keys)].filter((key) => !this.rows.has(key));
    if (missing.length === 0) return;
    const found = (await this.trx(this.table).whereRaw('?? = ANY(?)', [this.key, missing])) as R[];
    for (const key of missing) this.rows.set(key, undefined);
    for (const row of found) this.rows.set(String(row[this.key]), row);
  }

  get(key: string): R | undefined {
    return this.rows.get(key);
  }

  set(row: R): void {
    const key = String(row[this.key]);
    this.rows.set(key, row);
    this.changed.add(key);
  }

  async flush(): Promise<void> {
    await insertRows(this.trx, this.table, [...this.changed].map((key) => this.rows.get(key)!), { conflict: [this.key] });
    this.changed.clear();
  }
}
