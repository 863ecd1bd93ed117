import type { Queue } from 'bullmq';
import { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { EventStore } from '../eventstore/contract.js';
import { withinMs } from '../platform/within-ms.js';
import { PROJECTIONS } from '../projections/index.js';
import { projectionStatus, type ProjectionStatus } from '../projections/runtime/status.js';
import { QUEUES, type QueueName } from '../workers/jobs.js';
import { workersStatus } from '../workers/worker-status.js';
import { requireRole } from './auth.js';
import type { DescribedRoute } from './openapi.js';
import { HttpProblem } from './problem.js';

/** Enum values in answers are lower snake_case; the machinery's own names (`catching up`, `agent-runs`) stay as they are. */
const snakeCase = (value: string) => value.replace(/[ -]/g, '_');
const PROJECTION_STATES = { live: 'live', 'catching up': 'catching_up', rebuilding: 'rebuilding', stopped: 'stopped' } as const satisfies Record<ProjectionStatus['state'], string>;

const Projections = z.object({
  projections: z.array(
    z.object({
      name: z.string(),
      state: z.enum(Object.values(PROJECTION_STATES)).describe('`live`, `catching_up`, `rebuilding` (a new generation is being filled), or `stopped` (no runner holds it)'),
      version: z.number().int().nullable().describe('The version its active tables were built by'),
      codeVersion: z.number().int().describe('The version this code builds'),
      schema: z.string().nullable().describe('The PostgreSQL schema of its active tables'),
      checkpoint: z.string().nullable().describe('The position token it has applied up to'),
      checkpointAt: z.iso.datetime().nullable(),
      eventsApplied: z.number().int(),
      lag: z.object({
        events: z.number().int().describe('Events it has yet to apply'),
        atLeast: z.boolean().describe('The count stopped at its limit: at least that many'),
        seconds: z.number().describe('How long the oldest of them has waited'),
      }),
      rebuild: z
        .object({ schema: z.string(), eventsApplied: z.number().int(), checkpoint: z.string().nullable(), abandoned: z.boolean().describe('Its process died: the next rebuild or runner start drops it') })
        .nullable()
        .describe('A rebuild under way, or abandoned'),
    }),
  ),
});

const Workers = z.object({
  queues: z.array(
    z.object({
      name: z.enum(QUEUES.map(snakeCase)),
      waiting: z.number().int(),
      active: z.number().int(),
      delayed: z.number().int(),
      completed: z.number().int(),
      retrying: z.number().int().describe('Jobs that failed an attempt and wait for the next (counted among the first 1,000 delayed)'),
      deadLettered: z.number().int().describe('Jobs that failed their last attempt (or failed for good): kept for a replay'),
      workers: z.number().int().describe("Worker connections taking this queue's jobs"),
    }),
  ),
  relay: z.object({ name: z.string(), checkpoint: z.string().nullable().describe('The position token it has enqueued up to'), running: z.boolean() }),
});

const QUEUES_UNAVAILABLE = 'Redis cannot be read (`QUEUES.UNAVAILABLE`)';

/** The admins' views of the machinery, under /api (described in the OpenAPI document beside the queries). */
export const ADMIN_READS = [
  { method: 'get', path: '/projections', roles: ['admin'], summary: "Each projection's state (live, catching up, rebuilding, stopped), version, checkpoint and lag", success: { schema: Projections } },
  {
    method: 'get', path: '/workers', roles: ['admin'], summary: 'Each job queue: waiting, active, delayed, retrying and dead-lettered jobs, workers; and where the relay stands',
    success: { schema: Workers }, unavailable: QUEUES_UNAVAILABLE,
  },
] as const satisfies readonly DescribedRoute[];

export function adminReads({ knex, eventStore, queues }: { knex: Knex; eventStore: EventStore; queues?: Record<QueueName, Queue> }): Router {
  const router = Router();
  const [projections, workers] = ADMIN_READS;
  router.get(projections.path, requireRole(...projections.roles), async (_req, res) => {
    const statuses = await projectionStatus(knex, eventStore, PROJECTIONS);
    const body: z.input<typeof Projections> = { projections: statuses.map((status) => ({ ...status, state: PROJECTION_STATES[status.state] })) };
    res.json(body);
  });
  router.get(workers.path, requireRole(...workers.roles), async (_req, res) => {
    const unavailable = (detail: string) => new HttpProblem('QUEUES.UNAVAILABLE', detail);
    if (!queues) throw unavailable('No job queues are configured in this process');
    const status = await withinMs(workersStatus(knex, queues), 2000).catch((error: Error) => {
      // Redis may well be back in a moment: say when to ask again, as every other 503 does.
      res.set('Retry-After', '5');
      return Promise.reject(unavailable(`Redis: ${error.message}`));
    });
    const body: z.input<typeof Workers> = { ...status, queues: status.queues.map((queue) => ({ ...queue, name: snakeCase(queue.name) })) };
    res.json(body);
  });
  return router;
}
