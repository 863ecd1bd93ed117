import type { Knex } from 'knex';
import type { RecordedEvent } from '../../eventstore/contract.js';

/** Where a batch is applied: the transaction that also moves the checkpoint, and the generation's schema. */
export interface ProjectionTarget {
  trx: Knex.Transaction;
  /** The generation's schema: write `${schema}.table`. */
  schema: string;
}

/**
 * A read model: the events it reads and how it writes its tables. The runtime applies batches in
 * log order and moves the checkpoint in the same transaction; a rebuild fills a fresh schema.
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
