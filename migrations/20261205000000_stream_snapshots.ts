import type { Knex } from 'knex';

/**
 * Snapshots of decider state beside the events, so a process that has not seen a stream folds only
 * the events after the latest snapshot (one per stream, decider and state version). And an index on
 * the derived (version 8) event ids that commands with an idempotency key and workers write, so a
 * repeated command is found without reading its stream; random (version 4) ids stay unindexed,
 * which keeps plain appends as fast as they were.
 */
export const config = { transaction: false }; // CREATE INDEX CONCURRENTLY: a big events table keeps taking appends

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS stream_snapshots (
      stream_id  text        NOT NULL,
      name       text        NOT NULL,
      version    int         NOT NULL,
      revision   bigint      NOT NULL,
      position   text        NOT NULL,
      state      jsonb       NOT NULL,
      written_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (stream_id, name, version)
    )`);
  await knex.raw(`
    CREATE INDEX CONCURRENTLY IF NOT EXISTS events_derived_event_ids ON events (stream_id, event_id)
     WHERE get_byte(uuid_send(event_id), 6) >> 4 = 8`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS events_derived_event_ids');
  await knex.raw('DROP TABLE IF EXISTS stream_snapshots');
}
