import express, { type Express } from 'express';
import type { Knex } from 'knex';
import type { Logger } from '../platform/logger.js';
import { actionRoutes } from '../commands/actions/action.routes.js';
import { dealRoutes } from '../commands/deals/deal.routes.js';
import type { EventStore } from '../eventstore/contract.js';
import { authenticate } from './auth.js';
import { notFound, problemHandler } from './problem.js';

export interface AppDependencies {
  knex: Knex;
  eventStore: EventStore;
  logger: Logger;
}

export function createApp({ knex, eventStore, logger }: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags carry stream revisions, set by the handlers themselves
  app.use(express.json({ limit: '1mb' }));

  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/health/ready', async (_req, res) => {
    const checks: Record<string, string> = {};
    try {
      await knex.raw('SELECT 1');
      checks.postgres = 'ok';
    } catch (error) {
      checks.postgres = `unavailable: ${(error as Error).message}`;
    }
    const ready = Object.values(checks).every((check) => check === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'unavailable', checks });
  });

  app.use('/api', authenticate(knex), dealRoutes({ eventStore, knex }), actionRoutes({ eventStore, knex }));

  app.use(notFound);
  app.use(problemHandler(logger));
  return app;
}
