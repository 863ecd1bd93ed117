import { setTimeout as sleep } from 'node:timers/promises';
import type { JobsOptions, Queue } from 'bullmq';
import type { Knex } from 'knex';
import { batches } from '../eventstore/batches.js';
import type { EventStore, Position } from '../eventstore/contract.js';
import { acquireLock } from '../platform/advisory-lock.js';
import { OutageLog } from '../platform/outage-log.js';
import { unreachableDependency } from '../platform/unreachable.js';
import type { Logger } from '../platform/logger.js';
import { REACTING_TO, reactionsTo, type JobToAdd, type QueueName } from './jobs.js';

export const RELAY_NAME = 'jobs';
export const relayLockKey = (name: string) => `relay:${name}`;

/** How often a relay stores a position it reached by skipping events. */
const STORE_PASSED_EVERY_MS = 1000;

export interface RelayDependencies {
  knex: Knex;
  eventStore: EventStore;
  logger: Logger;
  /** For the advisory lock's own connection. */
  databaseUrl: string;
  queues: Record<QueueName, Queue>;
  jobOptions: JobsOptions;
  agentRunIdleMs: number;
  batchSize?: number;
}

/**
 * Turns events into jobs, without dual writes: the relay reads the log after its checkpoint, adds
 * the jobs those events call for (in bulk, with ids made of handler and event, so adding them again
 * adds nothing while Redis holds them), and moves its checkpoint only once Redis has accepted them.
 * When Redis is unreachable it waits and tries the same jobs again; commands and queries never
 * notice. Several processes may run it: one holds the relay's lock, the others stand by.
 */
export function runRelay(deps: RelayDependencies, signal: AbortSignal): Promise<void> {
  return runExclusively(deps, RELAY_NAME, (working) => relay(deps, working), signal);
}

/**
 * Runs `work` in the one process holding the lock of relay `name`; the others stand by on the lock
 * and take over when that process dies. A failed run starts again (with backoff) from what it
 * stored, under the lock again.
 */
export async function runExclusively(
  deps: { databaseUrl: string; logger: Logger },
  name: string,
  work: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  // While PostgreSQL is away every try fails: the log says so once, then once per interval.
  const unreachable = new OutageLog(deps.logger, { down: 'relay cannot reach postgres; starting again once it is back', meta: { relay: name } });
  let failures = 0;
  while (!signal.aborted) {
    const lock = await acquireLock(deps.databaseUrl, relayLockKey(name), signal).catch((error: unknown) => {
      if (unreachableDependency(error)) unreachable.failed(error);
      else deps.logger.warn('relay lock unavailable', { relay: name, error: (error as Error).message });
      failures++;
      return undefined;
    });
    if (lock) {
      unreachable.recovered();
      try {
        deps.logger.info('relay active', { relay: name });
        await work(AbortSignal.any([signal, lock.lost]));
        failures = 0;
      } catch (error) {
        if (!signal.aborted) {
          if (unreachableDependency(error)) unreachable.failed(error);
          else deps.logger.warn('relay failed; starting again', { relay: name, error: (error as Error).message });
        }
        failures++;
      } finally {
        await lock.release();
      }
    }
    if (!signal.aborted && failures > 0) await sleep(Math.min(5000, 100 * 2 ** Math.min(failures - 1, 6)), undefined, { signal }).catch(() => undefined);
  }
}

async function relay(deps: RelayDependencies, signal: AbortSignal): Promise<void> {
  let checkpoint = await readRelayCheckpoint(deps.knex, RELAY_NAME);
  let storedAt = 0;
  const subscription = deps.eventStore.subscribe({ from: checkpoint ?? 'start', filter: { eventTypes: REACTING_TO }, signal });
  for await (const batch of batches(subscription, deps.batchSize ?? 1000)) {
    if (batch.position === checkpoint) continue;
    const jobs = batch.events.flatMap((event) => reactionsTo(event, { agentRunIdleMs: deps.agentRunIdleMs, now: Date.now() }));
    if (jobs.length > 0) await addUntilAccepted(deps, jobs, signal);
    // A batch that made no jobs need not be stored at once: starting again a little earlier adds nothing.
    if (jobs.length > 0 || performance.now() - storedAt >= STORE_PASSED_EVERY_MS) {
      await storeRelayCheckpoint(deps.knex, RELAY_NAME, batch.position);
      storedAt = performance.now();
    }
    checkpoint = batch.position;
  }
}

/** Adds the jobs, queue by queue, trying again until Redis takes them all (or the relay stops). */
async function addUntilAccepted(deps: RelayDependencies, jobs: JobToAdd[], signal: AbortSignal): Promise<void> {
  const byQueue = new Map<QueueName, JobToAdd[]>();
  for (const job of jobs) {
    const queued = byQueue.get(job.queue);
    if (queued) queued.push(job);
    else byQueue.set(job.queue, [job]);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await Promise.all(
        [...byQueue].map(([queue, queued]) =>
          deps.queues[queue].addBulk(queued.map((job) => ({ name: job.name, data: job.data, opts: { ...deps.jobOptions, jobId: job.id, ...(job.delay ? { delay: job.delay } : {}) } }))),
        ),
      );
      if (attempt > 0) deps.logger.info('relay: redis took the jobs', { jobs: jobs.length, attempts: attempt + 1 });
      return;
    } catch (error) {
      if (signal.aborted) throw error;
      if (attempt === 0) deps.logger.warn('relay: redis refused the jobs; trying again until it takes them', { jobs: jobs.length, error: (error as Error).message });
      await sleep(Math.min(5000, 50 * 2 ** Math.min(attempt, 7)), undefined, { signal });
    }
  }
}

export async function readRelayCheckpoint(knex: Knex, name: string): Promise<Position | null> {
  const row = await knex('relay_checkpoints').where('name', name).first('position');
  return (row?.position as Position | undefined) ?? null;
}

/** Stored without waiting for the disk: a checkpoint lost in a crash only adds jobs again, which adds nothing. */
async function storeRelayCheckpoint(knex: Knex, name: string, position: Position): Promise<void> {
  await knex.raw(
    `INSERT INTO relay_checkpoints (name, position) SELECT ?, ? FROM (SELECT set_config('synchronous_commit', 'off', true)) s
     ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()`,
    [name, position],
  );
}
