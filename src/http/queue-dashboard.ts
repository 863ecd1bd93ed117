import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Express, RequestHandler } from 'express';
import type { QueueName } from '../workers/jobs.js';
import { sendProblem } from './problem.js';

/** Where admins see the queues in a browser (bull-board), signing in with an admin key as the password. */
export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** bull-board's pages and API; its adapter is an express app of its own, which would name itself in X-Powered-By. */
export function queueDashboard(queues: Record<QueueName, Queue>): Express {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({ queues: Object.values(queues).map((queue) => new BullMQAdapter(queue)), serverAdapter: adapter });
  const app = adapter.getRouter() as Express;
  app.disable('x-powered-by');
  return app;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The browser resends an admin's Basic credentials on any request to the dashboard, also one a page
 * elsewhere makes it send (a form post, a no-cors fetch): so a request that changes anything must
 * come from the dashboard's own origin, as Sec-Fetch-Site (or, from browsers without it, Origin)
 * tells, and carry JSON, which no cross-site form or simple request can. Body-less requests, as the
 * dashboard's own retry and pause buttons send them, need no content type.
 */
export const sameOriginOnly: RequestHandler = (req, res, next) => {
  if (SAFE_METHODS.has(req.method)) return next();
  const why = crossSiteReason(req.get('sec-fetch-site'), req.get('origin'), req.get('host'), req.get('content-type'), hasBody(req.headers));
  if (!why) return next();
  sendProblem(res, 'CROSS_SITE_REQUEST', why);
};

function crossSiteReason(fetchSite: string | undefined, origin: string | undefined, host: string | undefined, contentType: string | undefined, body: boolean): string | undefined {
  if (fetchSite !== undefined ? fetchSite !== 'same-origin' : !origin || hostOf(origin) !== host) {
    return 'The dashboard changes things only for requests from its own pages (Sec-Fetch-Site or Origin)';
  }
  const json = contentType !== undefined && /^application\/json\s*(;|$)/i.test(contentType);
  if ((contentType !== undefined || body) && !json) return 'The dashboard takes application/json bodies only';
  return undefined;
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}
