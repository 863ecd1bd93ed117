import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { EventStore } from './contract.js';
import { EventStoreDBEventStore } from './eventstoredb/eventstoredb-event-store.js';
import { PostgresEventStore } from './postgres/postgres-event-store.js';

export * from './contract.js';
export * from './errors.js';
export { comparePositions } from './position.js';

/** The event store the configuration names. */
export function createEventStore(config: Config, logger: Logger): EventStore {
  switch (config.EVENT_STORE) {
    case 'postgres':
      return new PostgresEventStore({
        connectionString: config.DATABASE_URL,
        poolMax: config.DATABASE_POOL_MAX,
        maxEventBytes: config.EVENT_MAX_BYTES,
        pollIntervalMs: config.SUBSCRIPTION_POLL_MS,
        notifyIntervalMs: config.NOTIFY_INTERVAL_MS,
        logger,
      });
    case 'eventstoredb':
      return new EventStoreDBEventStore({
        // loadConfig requires it when EVENT_STORE=eventstoredb.
        connectionString: config.EVENTSTORE_CONNECTION_STRING!,
        maxEventBytes: config.EVENT_MAX_BYTES,
        logger,
      });
  }
}
