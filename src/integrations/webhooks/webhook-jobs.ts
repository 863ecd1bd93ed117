import type { JobsOptions, Queue } from 'bullmq';
import type { JobData } from '../../workers/jobs.js';

/** Deduplicates a subscription's jobs: BullMQ keeps one per key (':' is refused in ids, as in job ids). */
export const deliveryKey = (subscriptionId: string) => `webhook_${subscriptionId}`;

/**
 * Asks for a delivery run of each subscription. BullMQ (6.7+, `keepLastIfActive`) keeps at most one
 * job per subscription waiting or retrying and one running: a wake while a run is under way is kept
 * and becomes a new job, atomically, when that run ends, so a wake is never lost and two runs of
 * one subscription never overlap.
 */
export async function wakeSubscriptions(queue: Queue, options: JobsOptions, subscriptionIds: readonly string[]): Promise<void> {
  if (subscriptionIds.length === 0) return;
  await queue.addBulk(
    subscriptionIds.map((subscriptionId) => ({
      name: 'deliver-webhooks',
      data: { subscriptionId } satisfies JobData['deliver-webhooks'],
      opts: { ...options, deduplication: { id: deliveryKey(subscriptionId), keepLastIfActive: true } },
    })),
  );
}

/** The backoff type of delivery runs: BullMQ asks the worker's strategy (scheduledBackoff) for it. */
export const SCHEDULED_BACKOFF = 'webhook-schedule';

/**
 * A delivery run's options: one attempt, then one retry per wait of the schedule. A run that fails
 * retries its event; the run whose attempts are spent suspends the subscription at it.
 */
export function deliveryJobOptions(options: JobsOptions, schedule: readonly number[]): JobsOptions {
  return { ...options, attempts: schedule.length + 1, backoff: { type: SCHEDULED_BACKOFF } };
}

/**
 * BullMQ's custom backoff (it asks only for types it does not know: SCHEDULED_BACKOFF): the schedule's wait before retry n, with up to 10%
 * added at random, so that subscriptions failing together (one receiver down) do not retry together.
 */
export function scheduledBackoff(schedule: readonly number[]) {
  return (attemptsMade: number): number => {
    const wait = schedule[Math.min(Math.max(attemptsMade, 1), schedule.length) - 1]!;
    return wait + Math.floor(Math.random() * wait * 0.1);
  };
}
