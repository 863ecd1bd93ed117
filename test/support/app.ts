import type { Express } from 'express';
import type { Knex } from 'knex';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgres-event-store.js';
import { createApp } from '../../src/http/app.js';
import { createKnex } from '../../src/platform/database.js';
import { ReadPositions } from '../../src/queries/read-positions.js';
import { silentLogger } from '../../src/platform/logger.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestApp {
  db: TestDatabase;
  knex: Knex;
  store: PostgresEventStore;
  app: Express;
  close(): Promise<void>;
}

/** The HTTP app on a fresh, migrated database of its own. */
export async function startTestApp(): Promise<TestApp> {
  const db = await createTestDatabase();
  const knex = createKnex(db.url, 2);
  const store = new PostgresEventStore({ connectionString: db.url });
  const readPositions = new ReadPositions(knex, db.url, silentLogger());
  const app = createApp({ knex, eventStore: store, logger: silentLogger(), readPositions, consistencyWaitMs: 1000 });
  return {
    db,
    knex,
    store,
    app,
    close: async () => {
      await readPositions.close();
      await store.close();
      await knex.destroy();
      await db.drop();
    },
  };
}
