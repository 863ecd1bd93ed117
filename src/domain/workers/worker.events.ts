import { z } from 'zod';
import type { DomainEvent } from '../shared/event.js';

/**
 * Events of one worker process's stream (`worker-<workerId>`): when it came up and went down, and
 * each job it gave up on after its last attempt, with what it takes to run that job again.
 */
export const WorkerEventSchemas = {
  WorkerStarted: z.object({ workerId: z.string(), host: z.string(), pid: z.number().int(), queues: z.array(z.string()), version: z.string() }),
  WorkerStopped: z.object({ workerId: z.string(), reason: z.string() }),
  JobDeadLettered: z.object({
    workerId: z.string(),
    queue: z.string(),
    jobId: z.string(),
    jobName: z.string(),
    /** The job's data as it was added: replaying it adds the same job again. */
    data: z.record(z.string(), z.unknown()),
    attempts: z.number().int().min(1),
    error: z.string(),
    /** The event the job was made for, when a relay made it. */
    eventId: z.string().optional(),
  }),
} as const;

type Events<Schemas extends Record<string, z.ZodType>> = {
  [Type in keyof Schemas & string]: DomainEvent<Type, z.infer<Schemas[Type]>>;
}[keyof Schemas & string];
export type WorkerEvent = Events<typeof WorkerEventSchemas>;
export type JobDeadLettered = z.infer<typeof WorkerEventSchemas.JobDeadLettered>;

export const workerStreamId = (workerId: string) => `worker-${workerId}`;
