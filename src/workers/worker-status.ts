import type { Queue } from 'bullmq';
import type { Knex } from 'knex';
import { lockHeldSql } from '../platform/advisory-lock.js';
import { QUEUES, type JobBase, type QueueName } from './jobs.js';
import { RELAY_NAME, readRelayCheckpoint, relayLockKey } from './relay.js';

export interface QueueStatus {
  name: QueueName;
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  /** Jobs that failed an attempt and wait for the next (counted among the first 1,000 delayed). */
  retrying: number;
  /** Jobs that failed their last attempt (or failed for good): kept for a replay. */
  deadLettered: number;
  /** Worker connections taking this queue's jobs. */
  workers: number;
}

export interface WorkersStatus {
  queues: QueueStatus[];
  relay: { name: string; checkpoint: string | null; running: boolean };
}

/** Queue depths, retries and dead letters, and where the relay stands. */
export async function workersStatus(knex: Knex, queues: Record<QueueName, Queue>): Promise<WorkersStatus> {
  const statuses = await Promise.all(
    QUEUES.map(async (name): Promise<QueueStatus> => {
      const queue = queues[name];
      const [counts, delayed, workers] = await Promise.all([
        queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed'),
        queue.getDelayed(0, 999),
        queue.getWorkersCount(),
      ]);
      return {
        name,
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        completed: counts.completed ?? 0,
        retrying: delayed.filter((job) => job.attemptsMade > 0).length,
        deadLettered: counts.failed ?? 0,
        workers,
      };
    }),
  );
  const { rows } = await knex.raw<{ rows: { running: boolean }[] }>(`SELECT ${lockHeldSql('?')} AS running`, [relayLockKey(RELAY_NAME)]);
  return { queues: statuses, relay: { name: RELAY_NAME, checkpoint: await readRelayCheckpoint(knex, RELAY_NAME), running: rows[0]!.running } };
}

/**
 * Puts dead-lettered jobs back in their queues with all their attempts again. A replayed job knows
 * it was replayed: an action that failed for good is then executed again, on purpose.
 */
export async function replayDeadLetters(queues: Record<QueueName, Queue>, only: readonly QueueName[] = QUEUES): Promise<{ queue: QueueName; jobId: string; name: string }[]> {
  const replayed: { queue: QueueName; jobId: string; name: string }[] = [];
  for (const name of only) {
    for (const job of await queues[name].getFailed(0, -1)) {
      const data = job.data as JobBase;
      await job.updateData({ ...data, replays: (data.replays ?? 0) + 1 });
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      replayed.push({ queue: name, jobId: job.id!, name: job.name });
    }
  }
  return replayed;
}
