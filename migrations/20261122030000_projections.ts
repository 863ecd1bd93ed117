import type { Knex } from 'knex';

/**
 * The projection registry. Each projection's tables live in a schema of their own per generation
 * (a rebuild fills a new one), with the generation's checkpoint beside them; views in the `read`
 * schema point at the active generation, and queries read only those views.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SCHEMA read;
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    CREATE TABLE projections (
      name           text PRIMARY KEY,
      active_schema  text NOT NULL
    );

    CREATE TABLE projection_generations (
      schema_name     text PRIMARY KEY,
      projection      text        NOT NULL,
      version         int         NOT NULL,
      state           text        NOT NULL CHECK (state IN ('building', 'active', 'retired')),
      -- The last log position applied (32-hex token; compares as bytes); NULL before the first event.
      checkpoint      text COLLATE "C",
      checkpoint_at   timestamptz,
      -- When the last applied event was recorded: the lag in time is checkpoint_at - recorded_at.
      recorded_at     timestamptz,
      events_applied  bigint      NOT NULL DEFAULT 0,
      created_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX projection_generations_by_projection ON projection_generations (projection, created_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE projection_generations; DROP TABLE projections; DROP SCHEMA read CASCADE;');
}
