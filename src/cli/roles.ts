import type { Server } from 'node:http';
import { once } from 'node:events';
import { createApp } from '../http/app.js';
import type { InFlight } from '../http/in-flight.js';
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
  const app = createApp({ knex: services.knex, eventStore: services.eventStore, logger: services.logger });
  const server: Server = app.listen(services.config.PORT);
  await once(server, 'listening');
  const address = server.address();
  services.logger.info('api listening', { port: typeof address === 'object' && address ? address.port : services.config.PORT });
  return {
    name: 'api',
    stop: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
      // Commands whose clients hung up still finish before the store closes under them.
      await (app.locals.inFlight as InFlight).idle();
    },
  };
}

// The projector and worker roles host the projections and the BullMQ processors; until those
// exist they start, report that they have nothing to run, and stop cleanly.
async function startProjector(services: Services): Promise<RunningRole> {
  services.logger.info('projector role started', { projections: [] });
  return { name: 'projector', stop: async () => undefined };
}

async function startWorker(services: Services): Promise<RunningRole> {
  services.logger.info('worker role started', { processors: [] });
  return { name: 'worker', stop: async () => undefined };
}
