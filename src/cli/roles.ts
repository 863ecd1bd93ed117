import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { AuthChanges } from '../auth/auth-changes.js';
import { ensureSigningKey } from '../auth/tokens/signing-keys.js';
import { TokenVerifier } from '../auth/tokens/token-verifier.js';
import { actionKinds } from '../domain/actions/action-kinds.js';
import { createApp } from '../http/app.js';
import type { InFlight } from '../http/in-flight.js';
import { RateLimits } from '../http/rate-limits.js';
import { answerClientErrors } from '../http/client-errors.js';
import { serverOptions } from '../http/server-timeouts.js';
import { beginShutdown } from '../http/shutdown.js';
import { PROJECTIONS } from '../projections/index.js';
import { runProjection } from '../projections/runtime/runner.js';
import { ReadPositions } from '../queries/read-positions.js';
import { closeQueues, openQueues, startWorkerHost } from '../workers/worker-host.js';
import { createRedis } from '../platform/redis.js';
import type { Config } from '../platform/config.js';
import type { Services } from './services.js';

/** A running part of the process that can be stopped gracefully. */
export interface RunningRole {
  name: string;
  stop(): Promise<void>;
}

export type ProcessRole = 'api' | 'projector' | 'worker';

export const PROCESS_ROLES: Record<ProcessRole, (services: Services) => Promise<RunningRole>> = {
  api: startApi,
  projector: startProjector,
  worker: startWorker,
};

async function startApi(services: Services): Promise<RunningRole> {
  const { knex, eventStore, logger, config } = services;
  const readPositions = new ReadPositions(knex, config.DATABASE_URL, logger);
  await readPositions.start();
  const authChanges = new AuthChanges(config.DATABASE_URL, logger);
  await authChanges.start();
  await ensureOwnSigningKey(services);
  const tokens = { verifier: new TokenVerifier(knex, config, { outbound: services.outbound }), ownIssuer: config.AUTH_TOKEN_ISSUER };
  // For /api/workers, the queue dashboard and readiness; commands never wait on it.
  const redis = createRedis(config.REDIS_URL, 'producer', logger);
  const queues = openQueues(redis, config.QUEUE_PREFIX);
  const limits = new RateLimits({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX, budgets: rateLimitBudgets(config), logger });
  const app = createApp({
    knex, eventStore, logger, readPositions, consistencyWaitMs: config.CONSISTENCY_WAIT_MS, snapshotEvery: config.SNAPSHOT_EVERY, authCacheMs: config.AUTH_CACHE_MS, authChanges, tokens, queues,
    limits, corsOrigins: config.CORS_ORIGINS, trustProxy: config.TRUST_PROXY, ...(services.box ? { box: services.box } : {}), outbound: services.outbound,
    feedCaps: { perPrincipal: config.FEED_MAX_CONNECTIONS_PER_PRINCIPAL, perProcess: config.FEED_MAX_CONNECTIONS },
    actionKinds: actionKinds({ httpExecutors: Object.keys(config.ACTION_HTTP_EXECUTORS) }),
  });
  const timeouts = { requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS, headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS, keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS };
  const server: Server = createServer(serverOptions(timeouts), app);
  answerClientErrors(server);
  server.listen(services.config.PORT);
  await once(server, 'listening');
  const address = server.address();
  services.logger.info('api listening', { port: typeof address === 'object' && address ? address.port : services.config.PORT });
  return {
    name: 'api',
    stop: async () => {
      // From now on every response closes its connection, and connections are closed as they fall
      // idle: a busy keep-alive client cannot hold the server open.
      beginShutdown(app);
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }).finally(() => clearInterval(sweep));
      // Commands whose clients hung up still finish before the store closes under them.
      await (app.locals.inFlight as InFlight).idle();
      await readPositions.close();
      await authChanges.close();
      await closeQueues(queues, redis);
      await limits.close();
    },
  };
}

/**
 * dealstream signs people's tokens with a key pair of its own, made on first start and kept (its
 * private half encrypted) in the database. Without the key to encrypt it (SECRETS_KEY, required in
 * production) the API still serves keys and an identity provider's tokens (openServices says so).
 */
async function ensureOwnSigningKey({ knex, box }: Services): Promise<void> {
  if (box) await ensureSigningKey(knex, box);
}

export function rateLimitBudgets(config: Config) {
  return {
    address: config.RATE_LIMIT_ADDRESS,
    authentication: config.RATE_LIMIT_AUTH_FAILURES,
    command: config.RATE_LIMIT_COMMAND,
    query: config.RATE_LIMIT_QUERY,
    export: config.RATE_LIMIT_EXPORT,
  };
}

/** One runner per projection: active where it holds the projection's lock, standing by elsewhere. */
async function startProjector(services: Services): Promise<RunningRole> {
  const { knex, eventStore, logger, config } = services;
  const stopping = new AbortController();
  const runs = PROJECTIONS.map((projection) => runProjection(projection, { knex, eventStore, logger, databaseUrl: config.DATABASE_URL, batchSize: config.PROJECTION_BATCH_SIZE }, stopping.signal));
  logger.info('projector role started', { projections: PROJECTIONS.map((projection) => projection.name) });
  return {
    name: 'projector',
    stop: async () => {
      stopping.abort();
      await Promise.all(runs);
    },
  };
}

/** BullMQ workers for every queue, and the relay that feeds them (active in one process, standing by in the others). */
async function startWorker(services: Services): Promise<RunningRole> {
  const { knex, eventStore, logger, config } = services;
  const host = await startWorkerHost({
    eventStore,
    knex,
    logger,
    databaseUrl: config.DATABASE_URL,
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockMs: config.WORKER_LOCK_MS,
    shutdownMs: config.WORKER_SHUTDOWN_MS,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    settings: workerSettings(config),
    ...(services.box ? { box: services.box } : {}),
    outbound: services.outbound,
  });
  return { name: 'worker', stop: () => host.stop('the process is stopping') };
}

export function workerSettings(config: Config) {
  return {
    agentRunIdleMs: config.AGENT_RUN_IDLE_MS,
    http: { executors: config.ACTION_HTTP_EXECUTORS, secret: config.ACTION_HTTP_SECRET, timeoutMs: config.ACTION_HTTP_TIMEOUT_MS },
    webhookRetrySchedule: config.WEBHOOK_RETRY_SCHEDULE,
    snapshotEvery: config.SNAPSHOT_EVERY,
  };
}
