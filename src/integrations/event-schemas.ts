import { Router } from 'express';
import { z } from 'zod';
import type { DescribedRoute } from '../http/openapi.js';
import { HttpProblem } from '../http/problem.js';
import { EVENT_TYPES } from './event-types.js';

/** For the OpenAPI document. */
export const EVENT_SCHEMAS_API: readonly DescribedRoute[] = [
  { method: 'get', path: '/integrations/event-types', summary: "Every event type with its data's JSON Schema (2020-12)", roles: 'every' },
  { method: 'get', path: '/integrations/event-types/:type', summary: "One event type with its data's JSON Schema (2020-12)", roles: 'every' },
];

/**
 * The data of each event type as JSON Schema (2020-12), for integrators to check what the feed and
 * webhooks send. Every authenticated role may read it.
 *
 * The schemas describe what zod accepts as input: objects leave `additionalProperties` open, because
 * event types change only by gaining optional fields (STYLE.md), and a client validating with the
 * schema it fetched yesterday must not reject today's events.
 */
export function eventSchemaRoutes(): Router {
  const catalog = new Map(
    [...EVENT_TYPES].map(([type, { category, stream, data }]) => [
      type,
      { category, stream, schema: z.toJSONSchema(data, { target: 'draft-2020-12', io: 'input' }) },
    ]),
  );
  const eventTypes = Object.fromEntries(catalog);

  const router = Router();
  router.get('/integrations/event-types', (_req, res) => {
    res.json({ eventTypes });
  });
  router.get('/integrations/event-types/:type', (req, res) => {
    const entry = catalog.get(req.params.type);
    if (!entry) {
      throw new HttpProblem({ type: '/problems/unknown-event-type', title: 'Unknown event type', status: 404, detail: `No event type is named ${req.params.type}` });
    }
    res.json({ type: req.params.type, ...entry });
  });
  return router;
}
