import type { Knex } from 'knex';

/**
 * A projection batch is one statement (its writes and its checkpoint): when the checkpoint's
 * compare-and-set finds it moved, the statement calls this to fail as a whole. SQLSTATE DS409.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION projection_generation_lost(schema_name text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the checkpoint of % moved, or it is no longer the active generation', schema_name USING ERRCODE = 'DS409';
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION projection_generation_lost(text)');
}
