import type { Knex } from 'knex';
import type { RecordedEvent } from '../../eventstore/contract.js';

export type Row = Record<string, unknown>;

/** How inserted rows meet rows already there: an upsert on the conflict columns; `add` columns add up. */
export interface RowMerge {
  conflict: string[];
  add?: string[];
}

/** The rows of one table that a batch works on, by one key column: loaded, changed in memory, written with the batch. */
export interface TableRows<R extends Row> {
  /** Reads the rows of these keys that the runner does not hold yet, in one query. */
  load(keys: Iterable<string>): Promise<void>;
  /** A loaded row; undefined when there is none (or it was not loaded). */
  get(key: string): R | undefined;
  /** The row as it is now: written with the batch. */
  set(row: R): void;
}

/**
 * What apply sees of a batch. Tables are named without their generation's schema. Writes are
 * queued and go out with the checkpoint, in one statement: a batch is written whole or not at all.
 * They run side by side and do not see each other, so a batch writes each row once.
 */
export interface ProjectionTarget {
  rows<R extends Row>(table: string, key: keyof R & string): TableRows<R>;
  insert(table: string, rows: readonly Row[], merge?: RowMerge): void;
}

/**
 * A read model: the events it reads and how it writes its tables. The runtime applies batches in
 * log order and moves the checkpoint with each; a rebuild fills a fresh schema.
 */
export interface Projection {
  name: string;
  /** Bump it when tables or apply change: the projector then rebuilds the model from history. */
  version: number;
  eventTypes: readonly string[];
  /** The tables it owns; queries read them as views of the same name in the `read` schema. */
  tables: readonly string[];
  createTables(trx: Knex.Transaction, schema: string): Promise<void>;
  /** Applies events in log order; set-based writes keep rebuilds fast. */
  apply(events: readonly RecordedEvent[], target: ProjectionTarget): Promise<void>;
}
