import type { Queue } from 'bullmq';
import express, { Router, type Express } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Knex } from 'knex';
import { pendingMigrations } from '../platform/database.js';
import type { Logger } from '../platform/logger.js';
import { OutboundGuard } from '../platform/outbound-guard.js';
import type { SecretBox } from '../platform/secret-box.js';
import { packageVersion } from '../platform/package-info.js';
import { withinMs } from '../platform/within-ms.js';
import { AUDIT_API, auditRouter } from '../audit/audit.routes.js';
import { actionCommands } from '../commands/actions/action.routes.js';
import type { ActionKinds } from '../domain/actions/action-kinds.js';
import { agentCommands } from '../commands/agents/agent.routes.js';
import { dealCommands } from '../commands/deals/deal.routes.js';
import { StreamStates } from '../commands/handle-command.js';
import { DEFAULT_SNAPSHOT_EVERY, SnapshotWriter } from '../commands/snapshots.js';
import type { EventStore } from '../eventstore/contract.js';
import { EVENT_SCHEMAS_API, eventSchemaRoutes } from '../integrations/event-schemas.js';
import { FEED_API, integrationFeed } from '../integrations/feed.js';
import type { FeedCaps } from '../integrations/feed-slots.js';
import { WEBHOOKS_API, webhookRoutes } from '../integrations/webhooks/webhook.routes.js';
import { ACTION_KINDS_API, actionKindRoutes } from '../queries/action-kinds.routes.js';
import { queryRoutes } from '../queries/index.js';
import type { QueueName } from '../workers/jobs.js';
import { mountQueries } from '../queries/query-route.js';
import type { ReadPositions } from '../queries/read-positions.js';
import type { AuthChanges } from '../auth/auth-changes.js';
import { Authenticator } from '../auth/authenticator.js';
import { jwksRoutes } from '../auth/tokens/jwks.routes.js';
import { peopleSignIn, type TokenVerifier } from '../principals/people.js';
import { PRINCIPALS_API, principalRoutes } from '../principals/principal.routes.js';
import { ADMIN_READS, adminReads } from './admin-reads.js';
import { authenticate, requireRole } from './auth.js';
import { CONSOLE_PATH, consoleRoutes } from './console.js';
import { mountCommands } from './command-route.js';
import { InFlight } from './in-flight.js';
import { openApiDocument } from './openapi.js';
import { Outages } from './outages.js';
import type { Liveness, Readiness } from './platform-api.js';
import { notFound, problemHandler } from './problem.js';
import { QUEUE_DASHBOARD_PATH, queueDashboard, sameOriginOnly } from './queue-dashboard.js';
import type { RateLimits } from './rate-limits.js';
import { corsFor, dashboardContentSecurityPolicy, docsContentSecurityPolicy, noStore, securityHeaders } from './security-headers.js';
import { shutdownSignal } from './shutdown.js';
import { refuseUnstorableInput } from './storable-input.js';

export { QUEUE_DASHBOARD_PATH };

export interface AppDependencies {
  knex: Knex;
  eventStore: EventStore;
  logger: Logger;
  /** Where the projections stand, for queries that read their own writes. */
  readPositions: ReadPositions;
  consistencyWaitMs?: number;
  /** Decider state is snapshotted every this many events of a stream (SNAPSHOT_EVERY). */
  snapshotEvery?: number;
  /** How long a checked credential is trusted while `authChanges` hears every change (0: check every request). */
  authCacheMs?: number;
  /** Revocations and other changes announced by any process; without it every request is checked afresh. */
  authChanges?: AuthChanges;
  /** People's tokens: how to verify them, and dealstream's own issuer (whose subjects are principal ids). */
  tokens?: { verifier: TokenVerifier; ownIssuer: string };
  /** The job queues (on a connection that fails fast): for /api/workers, the dashboard and readiness. */
  queues?: Record<QueueName, Queue>;
  /** Rate limits on /api and the dashboard; without them nothing is limited (tests of other things). */
  limits?: RateLimits;
  /** Browser origins that may call /api cross-origin; none: CORS is off. */
  corsOrigins?: readonly string[];
  /** Express's 'trust proxy' (TRUST_PROXY): off, the client address is the socket's. */
  trustProxy?: boolean | number | readonly string[];
  /** Open integration feeds this process holds at most; without caps, unbounded. */
  feedCaps?: FeedCaps;
  /** Seals webhook signing secrets; without it (no SECRETS_KEY in production) no webhook can be created. */
  box?: SecretBox;
  /** Vets webhook URLs as they are given; by default nothing private may be reached. */
  outbound?: OutboundGuard;
  /** The action kinds that may be proposed (with the HTTP executors configured); by default dealstream's own. */
  actionKinds?: ActionKinds;
  /** Where the built console lies (served at /console); by default dist/console under the package. */
  consoleDir?: string;
}

export function createApp(dependencies: AppDependencies): Express {
  const { knex, eventStore, logger, readPositions, consistencyWaitMs = 2000, snapshotEvery = DEFAULT_SNAPSHOT_EVERY, authCacheMs = 5000, authChanges, tokens, queues, limits, corsOrigins = [], trustProxy = false, feedCaps, box, outbound = new OutboundGuard(), actionKinds, consoleDir } = dependencies;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags carry stream revisions, set by the handlers themselves
  app.set('trust proxy', trustProxy);
  app.use(securityHeaders());
  const shutdown = shutdownSignal(app);
  app.use((_req, res, next) => {
    if (shutdown.aborted) res.set('Connection', 'close'); // shutting down: no keep-alive
    next();
  });
  app.use(['/api', '/health'], noStore);
  const crossOrigin = corsFor(corsOrigins);
  if (crossOrigin) app.use('/api', crossOrigin); // before the limits, so a browser can read their 429
  // Every request to the API and the dashboard counts per address, before its credential is looked at.
  if (limits) app.use(['/api', QUEUE_DASHBOARD_PATH], limits.beforeAuthentication);
  app.use(express.json({ limit: '1mb' }));
  app.use(refuseUnstorableInput);

  app.get(['/health', '/health/live'], (_req, res) => {
    res.json({ status: 'ok' } satisfies Liveness);
  });
  app.get('/health/ready', async (_req, res) => {
    // Side by side: an outage makes a probe wait for one timeout, not for each in turn.
    const [postgres, eventStoreState, redis] = await Promise.all([postgresCheck(knex), eventStoreCheck(eventStore), queues && redisCheck(queues.actions)]);
    const checks: Readiness['checks'] = { postgres, eventStore: eventStoreState, ...(redis ? { redis } : {}) };
    // Limits counted per process while Redis is away are looser by the number of processes.
    if (limits) checks.rateLimits = limits.mode === 'shared' ? 'ok' : 'per process: Redis is unreachable';
    // Queries need only PostgreSQL: without the event store they still answer (commands do not), and
    // without Redis commands too (jobs wait in the log for the relay). Either being away makes the
    // answer 'degraded', not unavailable: a balancer then keeps every instance serving reads.
    const ready = checks.postgres === 'ok';
    const status = !ready ? 'unavailable' : Object.values(checks).every((check) => check === 'ok') ? 'ok' : 'degraded';
    res.status(ready ? 200 : 503).json({ status, checks } satisfies Readiness);
  });

  const authenticator = new Authenticator({
    knex,
    cacheMs: authCacheMs,
    ...(authChanges ? { changes: authChanges } : {}),
    ...(tokens ? { tokens: peopleSignIn({ knex, eventStore }, tokens.verifier, tokens.ownIssuer, logger) } : {}),
  });
  const onRejected = limits?.authenticationFailed;
  const signedIn = authenticate(authenticator, { ...(onRejected ? { onRejected } : {}) });
  const perPrincipal = limits?.afterAuthentication ?? ((_req, _res, next) => next());

  const commands = commandRoutes(actionKinds);
  const openApi = apiDescription(actionKinds);
  // Whoever holds the app can check its answers against what it serves (the tests do, for every answer).
  app.locals.openApi = openApi;
  app.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  app.use('/docs', docsContentSecurityPolicy, swaggerUi.serve, swaggerUi.setup(openApi));
  app.use(jwksRoutes(knex)); // GET /.well-known/jwks.json: public keys of dealstream's own tokens, for anyone
  const inFlight = new InFlight();
  app.locals.inFlight = inFlight;
  const api = Router();
  mountCommands(api, { eventStore, knex, inFlight, streams: new StreamStates(new SnapshotWriter(snapshotEvery, logger)) }, commands);
  mountQueries(api, { knex, positions: readPositions, consistencyWaitMs }, queryRoutes);
  api.use(actionKindRoutes(actionKinds && { kinds: actionKinds }));
  api.use(integrationFeed({ eventStore, logger, ...(feedCaps ? { caps: feedCaps } : {}) }), eventSchemaRoutes());
  api.use('/integrations/webhooks', webhookRoutes({ knex, eventStore, outbound, ...(box ? { box } : {}) }));
  api.use(principalRoutes({ knex, eventStore, ...(authChanges ? { authChanges } : {}) }));
  api.use(adminReads({ knex, eventStore, ...(queues ? { queues } : {}) }));
  // Before /api, so that its requests are authenticated once.
  app.use('/api/audit', signedIn, perPrincipal, requireRole('auditor', 'admin'), auditRouter({ eventStore, logger }));
  app.use('/api', signedIn, perPrincipal, api);
  if (queues) {
    const admin = [authenticate(authenticator, { scheme: 'Basic', ...(onRejected ? { onRejected } : {}) }), requireRole('admin')];
    app.use(QUEUE_DASHBOARD_PATH, dashboardContentSecurityPolicy, ...admin, sameOriginOnly, queueDashboard(queues));
  }

  app.use(CONSOLE_PATH, consoleRoutes(consoleDir)); // the operator console: files only, it calls /api like any client
  app.use(notFound);
  // While a dependency is away its refused requests answer 503; it is asked once a second whether
  // it is back, for the log to say so (until the process stops serving).
  const probes = { postgres: () => knex.raw('SELECT 1'), eventstore: () => withinMs(readOneEvent(eventStore), 1000) };
  app.use(problemHandler(logger, new Outages(logger, probes, shutdown)));
  return app;
}

const commandRoutes = (actionKinds?: ActionKinds) => [...dealCommands, ...actionCommands(actionKinds && { kinds: actionKinds }), ...agentCommands];

/** The OpenAPI description the app serves at /openapi.json: the same for every process given the same action kinds, built without any dependency. */
export function apiDescription(actionKinds?: ActionKinds): object {
  return openApiDocument(commandRoutes(actionKinds), queryRoutes, [...ADMIN_READS, ...ACTION_KINDS_API, ...PRINCIPALS_API, ...AUDIT_API, ...FEED_API, ...EVENT_SCHEMAS_API, ...WEBHOOKS_API], packageVersion());
}

async function postgresCheck(knex: Knex): Promise<string> {
  try {
    const pending = await pendingMigrations(knex);
    return pending.length === 0 ? 'ok' : `not migrated: ${pending.join(', ')} pending`;
  } catch (error) {
    return `unavailable: ${(error as Error).message}`;
  }
}

/** The event store reads its log (on PostgreSQL the same database as above; EventStoreDB is a server of its own). */
async function eventStoreCheck(eventStore: EventStore): Promise<string> {
  try {
    await withinMs(readOneEvent(eventStore), 1000);
    return 'ok';
  } catch (error) {
    return `unavailable: ${(error as Error).message}`;
  }
}

async function readOneEvent(eventStore: EventStore): Promise<unknown> {
  for await (const event of eventStore.readAll({ maxCount: 1 })) return event;
  return undefined;
}

async function redisCheck(queue: Queue): Promise<string> {
  try {
    await withinMs(queue.getJobCounts('waiting'), 1000);
    return 'ok';
  } catch (error) {
    return `unavailable: ${(error as Error).message}`;
  }
}
