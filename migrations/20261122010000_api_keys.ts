import type { Knex } from 'knex';

/** API keys, stored only as SHA-256 hashes (keys are 256-bit random, so a fast hash is enough). */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE api_keys (
      id         uuid        PRIMARY KEY,
      name       text        NOT NULL,
      role       text        NOT NULL CHECK (role IN ('admin', 'operator', 'approver', 'agent', 'auditor', 'integration')),
      key_hash   text        NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    );
    CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE api_keys');
}
