import type { Knex } from 'knex';

/** Responses to commands sent with an Idempotency-Key, per API key, to answer a repeat the same way. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE idempotency_keys (
      api_key_id    uuid        NOT NULL,
      key           text        NOT NULL,
      request_hash  text        NOT NULL,
      status        int         NOT NULL,
      body          jsonb       NOT NULL,
      headers       jsonb       NOT NULL,
      created_at    timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (api_key_id, key)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE idempotency_keys');
}
