import type { Knex } from 'knex';

/**
 * The keys dealstream signs its own tokens with. The private key is stored encrypted by the secret
 * box (src/platform/secret-box.ts), never in the clear. At most one key is active (not retired); the
 * partial unique index makes two processes that create the first key at once agree on one. Retired
 * keys stay published until every token they signed has expired.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE signing_keys (
      kid         text        PRIMARY KEY,
      alg         text        NOT NULL,
      public_jwk  jsonb       NOT NULL,
      private_key text        NOT NULL, -- the private JWK, encrypted with the secret box
      created_at  timestamptz NOT NULL DEFAULT now(),
      retired_at  timestamptz
    );
    CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE signing_keys');
}
