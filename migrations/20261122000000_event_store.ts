import type { Knex } from 'knex';

/**
 * The PostgreSQL event store: one append-only `events` table. Readers take it in
 * (transaction_id, position) order below the oldest open transaction; the unique
 * (stream_id, revision) key is what makes appends optimistic and concurrent-safe.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE events (
      transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
      position       bigint      GENERATED ALWAYS AS IDENTITY,
      stream_id      text        NOT NULL,
      revision       bigint      NOT NULL,
      event_id       uuid        NOT NULL,
      type           text        NOT NULL,
      data           jsonb       NOT NULL,
      metadata       jsonb       NOT NULL,
      recorded_at    timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (transaction_id, position),
      -- Event ids are deliberately not unique across the log: see IDEMPOTENCY_WINDOW in the adapter.
      CONSTRAINT events_stream_revision_key UNIQUE (stream_id, revision)
    );

    -- The log is append-only: stored events are never edited or removed.
    CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP USING ERRCODE = 'restrict_violation';
    END $$;
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
      FOR EACH ROW EXECUTE FUNCTION events_append_only();
    CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
      FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE events;
    DROP FUNCTION events_append_only();
  `);
}
