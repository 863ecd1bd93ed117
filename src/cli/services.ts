import type { Knex } from 'knex';
import { createEventStore, type EventStore } from '../eventstore/index.js';
import { sealPlaintextSecrets } from '../integrations/webhooks/webhook-subscriptions.js';
import { ConfigError, type Config } from '../platform/config.js';
import { createKnex, ensureDatabase, migrateLatest } from '../platform/database.js';
import type { Logger } from '../platform/logger.js';
import { OutboundGuard } from '../platform/outbound-guard.js';
import { openSecretBox, type SecretBox } from '../platform/secret-box.js';
import { recordMigratedPrincipals } from '../principals/record-migrated.js';
import { ensureProjections } from '../projections/index.js';

/** What every role shares in one process. */
export interface Services {
  config: Config;
  logger: Logger;
  knex: Knex;
  eventStore: EventStore;
  /** Encryption at rest for secrets; absent only in production without SECRETS_KEY. */
  box: SecretBox | undefined;
  /** Every call out of the process goes through it. */
  outbound: OutboundGuard;
  close(): Promise<void>;
}

/** Creates the database if needed, applies pending migrations, then opens the shared services. */
export async function openServices(config: Config, logger: Logger): Promise<Services> {
  const knex = await migrate(config, logger);
  const eventStore = createEventStore(config, logger);
  await recordMigratedPrincipals({ knex, eventStore }, logger);
  const box = await secretBox(config, logger);
  const sealed = box ? await sealPlaintextSecrets(knex, box) : 0;
  if (sealed > 0) logger.info('sealed webhook secrets kept in plain text by an older version', { sealed });
  const outbound = new OutboundGuard({ allowPrivate: config.OUTBOUND_ALLOW_PRIVATE });
  return {
    config,
    logger,
    knex,
    eventStore,
    box,
    outbound,
    close: async () => {
      await outbound.close();
      await eventStore.close();
      await knex.destroy();
    },
  };
}

/** Creates the database if needed and applies pending migrations; returns an open knex. */
export async function migrate(config: Config, logger: Logger): Promise<Knex> {
  if (await ensureDatabase(config.DATABASE_URL)) logger.info('created database', { database: new URL(config.DATABASE_URL).pathname.slice(1) });
  const knex = createKnex(config.DATABASE_URL, config.DATABASE_POOL_MAX, logger);
  try {
    const applied = await migrateLatest(knex);
    logger.info(applied.length ? 'applied migrations' : 'database schema is up to date', { applied });
    await ensureProjections(knex);
    return knex;
  } catch (error) {
    await knex.destroy();
    throw error;
  }
}

/**
 * The secret box, or none in production without SECRETS_KEY: the process still serves, without what
 * needs it (its own tokens, webhooks), and says so.
 */
async function secretBox(config: Config, logger: Logger): Promise<SecretBox | undefined> {
  try {
    return await openSecretBox(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logger.warn('secrets cannot be encrypted: dealstream issues no tokens of its own and delivers no webhooks until SECRETS_KEY is set', { error: error.message });
    return undefined;
  }
}
