import type { Knex } from 'knex';

/**
 * A repeated command answers the bytes of the first answer: its body is kept as the text that was
 * sent (jsonb would reorder its keys), and headers as [name, value] pairs, in order. Rows from
 * before keep their jsonb body and header object, read as they are.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS body_text text;
    ALTER TABLE idempotency_keys ALTER COLUMN body DROP NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    UPDATE idempotency_keys SET body = body_text::jsonb WHERE body IS NULL;
    UPDATE idempotency_keys
       SET headers = (SELECT coalesce(jsonb_object_agg(pair->>0, pair->>1), '{}') FROM jsonb_array_elements(headers) pair)
     WHERE jsonb_typeof(headers) = 'array';
    ALTER TABLE idempotency_keys ALTER COLUMN body SET NOT NULL;
    ALTER TABLE idempotency_keys DROP COLUMN body_text;
  `);
}
