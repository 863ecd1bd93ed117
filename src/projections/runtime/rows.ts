import type { Knex } from 'knex';

type Row = Record<string, unknown>;

/** PostgreSQL allows 65,535 parameters per statement. */
const MAX_PARAMETERS = 60_000;

/**
 * Inserts rows in as few statements as the parameter limit allows. `merge` turns it into an upsert
 * on the conflict columns. Values for jsonb columns must be JSON strings (pg sends arrays as arrays).
 */
export async function insertRows(trx: Knex.Transaction, table: string, rows: readonly Row[], merge?: { conflict: string[] }): Promise<void> {
  if (rows.length === 0) return;
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / Object.keys(rows[0]!).length));
  for (let start = 0; start < rows.length; start += size) {
    const insert = trx(table).insert(rows.slice(start, start + size));
    await (merge ? insert.onConflict(merge.conflict).merge() : insert);
  }
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
    /** jsonb columns: stringified on the way back. */
    private readonly jsonColumns: readonly (keyof R & string)[] = [],
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
    const rows = [...this.changed].map((key) => {
      const row: Row = { ...this.rows.get(key)! };
      for (const column of this.jsonColumns) row[column] = JSON.stringify(row[column] ?? null);
      return row;
    });
    await insertRows(this.trx, this.table, rows, { conflict: [this.key] });
    this.changed.clear();
  }
}
