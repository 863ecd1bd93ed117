import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, WaitingError, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import { derivedUuid } from '../commands/event-ids.js';
import { StreamStates, handleCommand } from '../commands/handle-command.js';
import { DEFAULT_SNAPSHOT_EVERY, SnapshotWriter } from '../commands/snapshots.js';
import { actionKinds } from '../domain/actions/action-kinds.js';
import { workerDecider, type WorkerCommand } from '../domain/workers/worker.decider.js';
import { workerStreamId } from '../domain/workers/worker.events.js';
import type { EventStore, JsonObject } from '../eventstore/contract.js';
import { deliverWebhooks } from '../integrations/webhooks/deliver-webhooks.worker.js';
import { deliveryJobOptions, scheduledBackoff, wakeSubscriptions } from '../integrations/webhooks/webhook-jobs.js';
import { runWebhookWaker } from '../integrations/webhooks/webhook-waker.js';
import type { Logger } from '../platform/logger.js';
import type { OutboundGuard } from '../platform/outbound-guard.js';
import type { SecretBox } from '../platform/secret-box.js';
import { createRedis, jobLosingSettings } from '../platform/redis.js';
import { packageVersion } from '../platform/package-info.js';
import { executors } from './executors.js';
import { JobContext, type WorkerDependencies, type WorkerSettings } from './job-context.js';
import { QUEUES, isLastAttempt, type JobBase, type JobName, type QueueName } from './jobs.js';
import { executeAction } from './processors/execute-action.js';
import { expireApproval } from './processors/expire-approval.js';
import { settleCost } from './processors/settle-run-cost.js';
import { watchRun } from './processors/watch-run.js';
import { runRelay } from './relay.js';

export interface WorkerHostOptions {
  eventStore: EventStore;
  knex: Knex;
  logger: Logger;
  databaseUrl: string;
  redisUrl: string;
  /** BullMQ's key prefix: queues of one deployment share it. */
  prefix?: string;
  concurrency: number;
  lockMs: number;
  shutdownMs: number;
  attempts: number;
  backoffMs: number;
  settings: WorkerSettings;
  /** Opens webhook signing secrets; without it (no SECRETS_KEY in production) webhooks wait undelivered. */
  box?: SecretBox;
  outbound: OutboundGuard;
}

export interface WorkerHost {
  workerId: string;
  queues: Record<QueueName, Queue>;
  stop(reason?: string): Promise<void>;
}

export const DEFAULT_PREFIX = 'dealstream';

/** The options every job gets: retries with exponential backoff, and failed jobs kept as dead letters. */
export function jobOptions(attempts: number, backoffMs: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: false,
  };
}

/** The queues, on a connection that fails fast: for producers and for status. */
export function openQueues(redis: Redis, prefix = DEFAULT_PREFIX): Record<QueueName, Queue> {
  return Object.fromEntries(
    QUEUES.map((name) => {
      const queue = new Queue(name, { connection: redis, prefix });
      // Redis being away is reported once by the connection (see createRedis); callers see their own calls fail.
      queue.on('error', () => undefined);
      return [name, queue];
    }),
  ) as Record<QueueName, Queue>;
}

/** Closes what openQueues opened; waits for the queues at most a second (Redis may be away). */
export async function closeQueues(queues: Record<QueueName, Queue>, redis: Redis): Promise<void> {
  await Promise.race([Promise.all(Object.values(queues).map((queue) => queue.close())), sleep(1000, undefined, { ref: false })]);
  redis.disconnect();
}

/**
 * The worker role: a BullMQ worker per queue running the processors, and the relay and the webhook
 * waker that feed them from the log. The process records itself in its own stream (started,
 * stopped, each job it gave up on). Stopping waits for the jobs in hand up to `shutdownMs`, then
 * gives the rest back to the queue for another worker.
 */
export async function startWorkerHost(options: WorkerHostOptions): Promise<WorkerHost> {
  const { logger, eventStore } = options;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const workerId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const streams = new StreamStates(new SnapshotWriter(options.settings.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY, logger));
  const deps: WorkerDependencies = { eventStore, logger, workerId, settings: options.settings, outbound: options.outbound, streams };
  const kinds = actionKinds({ httpExecutors: Object.keys(options.settings.http.executors) });
  const registry = executors(kinds, options.settings.http.executors);
  const record = (command: Omit<WorkerCommand, 'metadata'>, ...idParts: string[]) =>
    handleCommand(eventStore, workerStreamId(workerId), workerDecider, { ...command, metadata: { actor: { kind: 'worker', id: workerId }, now: new Date().toISOString(), correlationId: workerId, causationId: workerId } } as WorkerCommand, {
      eventIdFor: (index) => derivedUuid(workerId, ...idParts, String(index)),
      known: streams,
    });

  const producer = createRedis(options.redisUrl, 'producer', logger);
  const consumer = createRedis(options.redisUrl, 'worker', logger);
  for (const warning of await jobLosingSettings(producer).catch((error: Error) => [`could not read Redis's settings: ${error.message}`])) {
    logger.warn(warning);
  }
  const queues = openQueues(producer, prefix);
  const retried = jobOptions(options.attempts, options.backoffMs);
  const deliveryRuns = deliveryJobOptions(retried, options.settings.webhookRetrySchedule);
  const wakeWebhooks = (subscriptionIds: readonly string[]) => wakeSubscriptions(queues.webhooks, deliveryRuns, subscriptionIds);
  const { box } = options;

  const processors: Record<JobName, (context: JobContext) => Promise<JsonObject>> = {
    'execute-action': (context) => executeAction(context, kinds, registry),
    'expire-approval': expireApproval,
    'watch-run': watchRun,
    'settle-run-cost': settleCost,
    'deliver-webhooks': async (context) => (box ? deliverWebhooks(context, { knex: options.knex, queue: queues.webhooks, wake: wakeWebhooks, box }) : { delivered: 0 }),
  };

  const processJob = async (job: Job<JobBase>, token?: string, signal?: AbortSignal): Promise<JsonObject> => {
    const cancelled = signal ?? new AbortController().signal;
    try {
      return await processors[job.name as JobName](new JobContext(deps, job, cancelled));
    } catch (error) {
      if (cancelled.aborted) {
        // The worker is stopping: the job goes back to the queue, no attempt spent.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (isLastAttempt(job, error)) await deadLetter(job, error as Error);
      throw error;
    }
  };

  // Recorded whatever the job carries: a webhook run's job has no event of its own.
  const deadLetter = async (job: Job<JobBase>, error: Error) => {
    logger.error('job dead-lettered', { queue: job.queueName, jobId: job.id, job: job.name, attempts: job.attemptsMade + 1, error: error.message });
    await record(
      {
        type: 'RecordJobDeadLettered',
        data: { queue: job.queueName, jobId: job.id!, jobName: job.name, data: job.data as unknown as Record<string, unknown>, attempts: job.attemptsMade + 1, error: error.message, ...(job.data.eventId ? { eventId: job.data.eventId } : {}) },
      },
      'dead-letter',
      job.id!,
      String(job.data.replays ?? 0),
      String(job.attemptsMade),
    ).catch((failure: Error) => logger.error('could not record a dead-lettered job', { jobId: job.id, error: failure.message }));
  };

  const workers = QUEUES.map((name) => {
    const worker = new Worker(name, processJob, {
      connection: consumer,
      prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      // Look for jobs whose worker died as often as a lock lasts: they run again within two locks' time.
      stalledInterval: options.lockMs,
      // A job whose worker died counts that as an attempt: it runs again up to the attempts allowed.
      maxStalledCount: options.attempts,
      // Delivery runs retry on the webhook schedule; other jobs back off exponentially (BullMQ's own).
      settings: { backoffStrategy: scheduledBackoff(options.settings.webhookRetrySchedule) },
    });
    worker.on('error', (error) => logger.warn('worker error', { queue: name, error: error.message }));
    return worker;
  });
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  await record({ type: 'RecordWorkerStarted', data: { workerId, host: hostname(), pid: process.pid, queues: [...QUEUES], version: packageVersion() } }, 'started');
  logger.info('worker started', { workerId, queues: QUEUES, concurrency: options.concurrency });

  const stopRelay = new AbortController();
  const relay = runRelay(
    {
      knex: options.knex,
      eventStore,
      logger,
      databaseUrl: options.databaseUrl,
      queues,
      jobOptions: retried,
      agentRunIdleMs: options.settings.agentRunIdleMs,
    },
    stopRelay.signal,
  );
  if (!box) logger.warn('webhooks are not delivered until SECRETS_KEY is set: their signing secrets cannot be opened');
  const webhookWaker = box ? runWebhookWaker({ knex: options.knex, eventStore, logger, databaseUrl: options.databaseUrl, wake: wakeWebhooks }, stopRelay.signal) : Promise.resolve();

  return {
    workerId,
    queues,
    stop: async (reason = 'stopped') => {
      stopRelay.abort();
      const closed = Promise.all(workers.map((worker) => worker.close()));
      const inTime = await Promise.race([closed.then(() => true), sleep(options.shutdownMs, false, { ref: false })]);
      if (!inTime) {
        logger.warn('worker: jobs still running at the deadline go back to the queue', { workerId });
        for (const worker of workers) worker.cancelAllJobs('the worker is stopping');
        await closed;
      }
      await Promise.all([relay, webhookWaker]);
      await record({ type: 'RecordWorkerStopped', data: { reason } }, 'stopped').catch((error: Error) => logger.warn('could not record the stop', { error: error.message }));
      await closeQueues(queues, producer);
      consumer.disconnect();
      logger.info('worker stopped', { workerId, reason });
    },
  };
}

