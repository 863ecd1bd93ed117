import type { Knex } from 'knex';

/** Where each relay stands in the log: it moves only once Redis has accepted the jobs before it. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE relay_checkpoints (
      name        text PRIMARY KEY,
      position    text COLLATE "C",
      updated_at  timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE relay_checkpoints');
}
