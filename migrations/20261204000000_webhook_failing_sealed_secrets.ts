import type { Knex } from 'knex';

/**
 * Webhooks never skip an event: a subscription whose event used up the retry schedule is suspended
 * at it, in state `failing`, until its owner resumes it. Signing secrets are kept encrypted (the
 * secret box's `v1.<keyId>.…` form, which names its key, so a rotation finds what to re-encrypt):
 * `sealed_secret` holds them, and each process seals any plaintext left in `secret` when it starts,
 * then clears it (the column goes in a later version, once no older process can write it).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_state_check;
    ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_state_check CHECK (state IN ('active', 'paused', 'failing'));
    ALTER TABLE webhook_subscriptions ADD COLUMN sealed_secret text;
    ALTER TABLE webhook_subscriptions ALTER COLUMN secret DROP NOT NULL;
    ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_has_secret CHECK (secret IS NOT NULL OR sealed_secret IS NOT NULL);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_has_secret;
    ALTER TABLE webhook_subscriptions DROP COLUMN sealed_secret;
    UPDATE webhook_subscriptions SET state = 'paused' WHERE state = 'failing';
    ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_state_check;
    ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_state_check CHECK (state IN ('active', 'paused'));
  `);
}
