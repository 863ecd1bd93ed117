import { Router } from 'express';
import { z } from 'zod';
import { eventVersions } from '../domain/upcasters.js';
import type { DescribedRoute } from '../http/openapi.js';
import { HttpProblem } from '../http/problem.js';
import { EVENT_TYPES } from './event-types.js';

const JsonSchema = z.record(z.string(), z.unknown()).describe('A JSON Schema (2020-12)');
const EventTypeEntry = z.object({
  category: z.string().describe("The part of the stream id before the first dash: what the feed's `category` filter matches"),
  stream: z.string().describe('The ids of the streams holding this type, e.g. `deal-<dealId>`'),
  version: z.number().int().describe("The current version of the data's shape (`metadata.schemaVersion`, `dealstreamschemaversion`)"),
  schema: JsonSchema.describe("The data's current shape, as JSON Schema (2020-12)"),
  earlierVersions: z.record(z.string(), JsonSchema).optional().describe('Only for a type changed in a breaking way: the shapes its events were stored in before, by version'),
});
const EventTypes = z.object({ eventTypes: z.record(z.string(), EventTypeEntry).describe('By event type') });
const OneEventType = EventTypeEntry.extend({ type: z.string() });

/** For the OpenAPI document. */
export const EVENT_SCHEMAS_API: readonly DescribedRoute[] = [
  { method: 'get', path: '/integrations/event-types', summary: "Every event type with its data's JSON Schema (2020-12), its current version and earlier versions' schemas", roles: 'every', success: { schema: EventTypes } },
  { method: 'get', path: '/integrations/event-types/:type', summary: "One event type with its data's JSON Schema (2020-12), its current version and earlier versions' schemas", roles: 'every', success: { schema: OneEventType } },
];

/**
 * The data of each event type as JSON Schema (2020-12), for integrators to check what the feed and
 * webhooks send. Every authenticated role may read it. `schema` is the shape of the type's current
 * `version`; a type changed in a breaking way also lists the shapes its events were stored in before
 * (`earlierVersions`, by version): the feed and webhooks send events as stored, with the version
 * (`metadata.schemaVersion`, `dealstreamschemaversion`).
 *
 * The schemas describe what zod accepts as input: objects leave `additionalProperties` open, because
 * event types change only by gaining optional fields (STYLE.md), and a client validating with the
 * schema it fetched yesterday must not reject today's events.
 */
export function eventSchemaRoutes(): Router {
  const jsonSchema = (data: z.ZodType) => z.toJSONSchema(data, { target: 'draft-2020-12', io: 'input' });
  const catalog = new Map(
    [...EVENT_TYPES].map(([type, { category, stream, data }]): [string, z.input<typeof EventTypeEntry>] => {
      const earlier = eventVersions.earlierSchemas(type);
      return [
        type,
        {
          category,
          stream,
          version: eventVersions.currentVersion(type),
          schema: jsonSchema(data),
          // The feed and webhooks send events as stored: those written before a breaking change keep their older shape.
          ...(earlier.size > 0 ? { earlierVersions: Object.fromEntries([...earlier].map(([version, schema]) => [version, jsonSchema(schema)])) } : {}),
        },
      ];
    }),
  );
  const all: z.input<typeof EventTypes> = { eventTypes: Object.fromEntries(catalog) };

  const router = Router();
  router.get('/integrations/event-types', (_req, res) => {
    res.json(all);
  });
  router.get('/integrations/event-types/:type', (req, res) => {
    const entry = catalog.get(req.params.type);
    if (!entry) {
      throw new HttpProblem('EVENT_TYPE.NOT_FOUND', `No event type is named ${req.params.type}`);
    }
    const body: z.input<typeof OneEventType> = { type: req.params.type, ...entry };
    res.json(body);
  });
  return router;
}
