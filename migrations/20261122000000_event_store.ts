import type { Knex } from 'knex';

/**
 * The PostgreSQL event store: an append-only `events` table read in (transaction_id, position)
 * order below the oldest open transaction, a `streams` table holding each stream's revision, and
 * `append_events`, which appends a batch in one round trip.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE streams (
      stream_id text PRIMARY KEY,
      revision  bigint NOT NULL
    );

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
      CONSTRAINT events_stream_revision_key UNIQUE (stream_id, revision),
      CONSTRAINT events_event_id_key UNIQUE (event_id)
    );

    -- The log is append-only: stored events are never edited or removed.
    CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP USING ERRCODE = 'restrict_violation';
    END $$;
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
      FOR EACH ROW EXECUTE FUNCTION events_append_only();

    -- p_expected: a revision >= 0, or -1 no_stream, -2 any, -4 exists.
    -- outcome: 'ok', 'idempotent' (these ids are already stored at this place), 'conflict' or 'duplicate_id'.
    CREATE FUNCTION append_events(p_stream_id text, p_expected bigint, p_events jsonb)
    RETURNS TABLE (outcome text, actual bigint, next_revision bigint, transaction_id xid8, last_position bigint)
    LANGUAGE plpgsql AS $$
    #variable_conflict use_column
    DECLARE
      v_count int := jsonb_array_length(p_events);
      v_current bigint;
      v_matches boolean;
      v_found_stream text;
      v_found_revision bigint;
      v_last bigint;
    BEGIN
      -- Lock the stream before anything gives this transaction an id: an advisory lock assigns none,
      -- so a later writer of the same stream always gets a larger transaction id, and order within a
      -- stream equals revision order in the (transaction_id, position) feed. The two-key form keeps
      -- stream locks apart from the single-key advisory locks used elsewhere.
      PERFORM pg_advisory_xact_lock(1936028526, hashtext(p_stream_id));
      SELECT s.revision INTO v_current FROM streams s WHERE s.stream_id = p_stream_id;

      v_matches := CASE p_expected
        WHEN -2 THEN true
        WHEN -4 THEN v_current IS NOT NULL
        WHEN -1 THEN v_current IS NULL
        ELSE v_current = p_expected
      END;

      IF p_expected < 0 OR NOT coalesce(v_matches, false) THEN
        -- Maybe a retry of an append already stored: same ids, same order, at the expected place.
        SELECT e.stream_id, e.revision INTO v_found_stream, v_found_revision
          FROM events e WHERE e.event_id = (p_events->0->>'id')::uuid;
        IF FOUND THEN
          IF v_found_stream <> p_stream_id THEN
            RETURN QUERY SELECT 'duplicate_id', v_current, NULL::bigint, NULL::xid8, NULL::bigint;
            RETURN;
          END IF;
          IF (p_expected < -1 OR v_found_revision = p_expected + 1)
             AND (SELECT count(*) FROM jsonb_array_elements(p_events) WITH ORDINALITY AS j(v, n)
                    JOIN events e ON e.stream_id = p_stream_id
                                 AND e.revision = v_found_revision + j.n - 1
                                 AND e.event_id = (j.v->>'id')::uuid) = v_count THEN
            RETURN QUERY SELECT 'idempotent', v_current, e.revision, e.transaction_id, e.position
              FROM events e WHERE e.stream_id = p_stream_id AND e.revision = v_found_revision + v_count - 1;
            RETURN;
          END IF;
          v_matches := false;
        END IF;
        IF NOT coalesce(v_matches, false) THEN
          RETURN QUERY SELECT 'conflict', v_current, NULL::bigint, NULL::xid8, NULL::bigint;
          RETURN;
        END IF;
      END IF;

      WITH inserted AS (
        INSERT INTO events (stream_id, revision, event_id, type, data, metadata)
        SELECT p_stream_id, coalesce(v_current, -1) + j.n, (j.v->>'id')::uuid, j.v->>'type', j.v->'data', j.v->'metadata'
          FROM jsonb_array_elements(p_events) WITH ORDINALITY AS j(v, n)
         ORDER BY j.n
        RETURNING events.position
      )
      SELECT max(inserted.position) INTO v_last FROM inserted;

      IF v_current IS NULL THEN
        INSERT INTO streams (stream_id, revision) VALUES (p_stream_id, v_count - 1);
      ELSE
        UPDATE streams SET revision = v_current + v_count WHERE stream_id = p_stream_id;
      END IF;

      RETURN QUERY SELECT 'ok', v_current, coalesce(v_current, -1) + v_count, pg_current_xact_id(), v_last;
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION append_events(text, bigint, jsonb);
    DROP TABLE events;
    DROP FUNCTION events_append_only();
    DROP TABLE streams;
  `);
}
