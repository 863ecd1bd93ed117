import type { Queue } from 'bullmq';
import type { Express } from 'express';
import type { Knex } from 'knex';
import type { EventStore } from '../../src/eventstore/contract.js';
import { createApp, type AppDependencies } from '../../src/http/app.js';
import { createKnex } from '../../src/platform/database.js';
import { PROJECTIONS } from '../../src/projections/index.js';
import { runProjection } from '../../src/projections/runtime/runner.js';
import { ReadPositions } from '../../src/queries/read-positions.js';
import { TokenVerifier } from '../../src/auth/tokens/token-verifier.js';
import { loadConfig } from '../../src/platform/config.js';
import { silentLogger, type Logger } from '../../src/platform/logger.js';
import { createRedis } from '../../src/platform/redis.js';
import type { QueueName } from '../../src/workers/jobs.js';
import { closeQueues, openQueues } from '../../src/workers/worker-host.js';
import { REDIS_URL, testPrefix } from './workers.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startTestEventStore } from './event-store.js';
import { testOutbound, testSecretBox } from './secrets.js';

export interface TestApp {
  db: TestDatabase;
  knex: Knex;
  store: EventStore;
  /** What a dealstream child process needs in its environment to share the store (see event-store.ts). */
  storeEnv: Record<string, string>;
  app: Express;
  /** With `queues`, the job queues the app's dashboard shows. */
  queues?: Record<QueueName, Queue>;
  close(): Promise<void>;
}

/**
 * The HTTP app on a fresh, migrated database of its own, over the test event store (see
 * event-store.ts). With `projections`, every projection runs in the background as in the projector
 * role; queries given a command's position read their write. `logger` hears the app and the store
 * (silent without it).
 */
export async function startTestApp(options: { projections?: boolean; queues?: boolean; tokenSettings?: Record<string, string>; http?: Pick<AppDependencies, 'limits' | 'corsOrigins' | 'feedCaps' | 'trustProxy' | 'consistencyWaitMs' | 'outbound' | 'actionKinds' | 'consoleDir'>; logger?: Logger } = {}): Promise<TestApp> {
  const db = await createTestDatabase();
  const knex = createKnex(db.url, 2);
  const { store, env: storeEnv, close: closeStore } = await startTestEventStore(db.url, options.logger);
  const readPositions = new ReadPositions(knex, db.url, silentLogger());
  // With `queues`, the job queues (under a prefix of the test's own) for /api/workers and the queue dashboard.
  const redis = options.queues ? createRedis(REDIS_URL, 'producer', silentLogger()) : undefined;
  const queues = redis && openQueues(redis, testPrefix());
  // People's tokens: dealstream's own (sign them with issueToken and a box of the test's) and, when
  // the caller's configuration names one, an identity provider's.
  const tokenConfig = loadConfig({ DATABASE_URL: db.url, ...options.tokenSettings });
  const tokens = { verifier: new TokenVerifier(knex, tokenConfig, { keyReloadIntervalMs: 100, outbound: testOutbound }), ownIssuer: tokenConfig.AUTH_TOKEN_ISSUER };
  const app = createApp({ knex, eventStore: store, logger: options.logger ?? silentLogger(), readPositions, consistencyWaitMs: 5000, tokens, box: testSecretBox, outbound: testOutbound, ...(queues ? { queues } : {}), ...options.http });
  const projecting = new AbortController();
  const deps = { knex, eventStore: store, logger: silentLogger(), databaseUrl: db.url };
  const runs = options.projections ? PROJECTIONS.map((projection) => runProjection(projection, deps, projecting.signal)) : [];
  return {
    db,
    knex,
    store,
    storeEnv,
    app,
    ...(queues ? { queues } : {}),
    close: async () => {
      projecting.abort();
      await Promise.all(runs);
      await readPositions.close();
      if (queues && redis) await closeQueues(queues, redis);
      await closeStore();
      await knex.destroy();
      await db.drop();
    },
  };
}
