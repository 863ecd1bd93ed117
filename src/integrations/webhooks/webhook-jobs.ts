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
