import express, { Router, type Express } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Knex } from 'knex';
import { pendingMigrations } from '../platform/database.js';
import type { Logger } from '../platform/logger.js';
import { packageVersion } from '../platform/package-info.js';
import { actionCommands } from '../commands/actions/action.routes.js';
import { agentCommands } from '../commands/agents/agent.routes.js';
import { dealCommands } from '../commands/deals/deal.routes.js';
import { StreamStates } from '../commands/handle-command.js';
import type { EventStore } from '../eventstore/contract.js';
import { queryRoutes } from '../queries/index.js';
import { mountQueries } from '../queries/query-route.js';
import type { ReadPositions } from '../queries/read-positions.js';
import { PROJECTIONS } from '../projections/index.js';
import { projectionStatus } from '../projections/runtime/status.js';
import { authenticate, requireRole } from './auth.js';
import { mountCommands } from './command-route.js';
import { InFlight } from './in-flight.js';
import { openApiDocument } from './openapi.js';
import { notFound, problemHandler } from './problem.js';

export interface AppDependencies {
  knex: Knex;
  eventStore: EventStore;
  logger: Logger;
  /** Where the projections stand, for queries that read their own writes. */
  readPositions: ReadPositions;
  consistencyWaitMs?: number;
  authCacheMs?: number;
}

export function createApp({ knex, eventStore, logger, readPositions, consistencyWaitMs = 2000, authCacheMs = 5000 }: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags carry stream revisions, set by the handlers themselves
  app.use((_req, res, next) => {
    if (app.locals.stopping) res.set('Connection', 'close'); // shutting down: no keep-alive
    next();
  });
  app.use(express.json({ limit: '1mb' }));

  app.get(['/health', '/health/live'], (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/health/ready', async (_req, res) => {
    const checks: Record<string, string> = {};
    try {
      const pending = await pendingMigrations(knex);
      checks.postgres = pending.length === 0 ? 'ok' : `not migrated: ${pending.join(', ')} pending`;
    } catch (error) {
      checks.postgres = `unavailable: ${(error as Error).message}`;
    }
    const ready = Object.values(checks).every((check) => check === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'unavailable', checks });
  });

  const commands = [...dealCommands, ...actionCommands(), ...agentCommands];
  const openApi = openApiDocument(commands, queryRoutes, packageVersion());
  app.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(openApi));
  const inFlight = new InFlight();
  app.locals.inFlight = inFlight;
  const api = Router();
  mountCommands(api, { eventStore, knex, inFlight, streams: new StreamStates() }, commands);
  mountQueries(api, { knex, positions: readPositions, consistencyWaitMs }, queryRoutes);
  api.get('/projections', requireRole('admin'), async (_req, res) => {
    res.json({ projections: await projectionStatus(knex, eventStore, PROJECTIONS) });
  });
  app.use('/api', authenticate(knex, authCacheMs), api);

  app.use(notFound);
  app.use(problemHandler(logger));
  return app;
}
