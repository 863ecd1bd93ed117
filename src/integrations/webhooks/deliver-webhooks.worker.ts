import type { Queue } from 'bullmq';
import type { Knex } from 'knex';
import { webhookDecider } from '../../domain/webhooks/webhook.decider.js';
import { webhookStreamId } from '../../domain/webhooks/webhook.events.js';
import type { JsonObject, RecordedEvent } from '../../eventstore/contract.js';
import { describeOutboundFailure } from '../../platform/outbound-guard.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { JobContext } from '../../workers/job-context.js';
import { isLastAttempt, type JobData } from '../../workers/jobs.js';
import { standardWebhookHeaders } from '../../workers/signature.js';
import { CLOUD_EVENTS_CONTENT_TYPE, toCloudEvent } from './cloud-event.js';
import type { DeliveryAttempt } from './webhook-deliveries.js';
import { deliveryKey } from './webhook-jobs.js';
import { recordDelivery, subscriptionToDeliver, type SubscriptionToDeliver } from './webhook-subscriptions.js';

/** Events one run delivers at most; then a fresh job goes on, behind the other subscriptions' jobs. */
const EVENTS_PER_RUN = 100;

export interface WebhookWorkerDependencies {
  knex: Knex;
  queue: Queue;
  wake: (subscriptionIds: readonly string[]) => Promise<void>;
  /** Opens the subscriptions' signing secrets. */
  box: SecretBox;
}

/**
 * One delivery run of a subscription: reads the matching events after its position and POSTs them
 * one by one, in order, storing the position after each event delivered (a crash sends again at
 * most the event in flight; receivers dedupe by webhook-id). A failed attempt is recorded and the
 * job fails, so BullMQ tries it again from the same position after the retry schedule's next wait
 * (see deliveryJobOptions). When the schedule is spent the subscription is suspended at that event
 * (state `failing`, and WebhookDeliverySuspended in its stream): no event is ever skipped, and
 * resuming delivers it again. A job that retried its event delivers only that one and hands over
 * to a fresh job, so that every event gets the whole schedule.
 */
export async function deliverWebhooks(context: JobContext, deps: WebhookWorkerDependencies): Promise<JsonObject> {
  const { job } = context;
  const { subscriptionId } = job.data as unknown as JobData['deliver-webhooks'];
  // BullMQ keeps one job per subscription key (see wakeSubscriptions). A job that does not hold the
  // key (a dead-lettered run an operator replayed) could overlap with the one that does: it asks
  // for a run instead of delivering.
  if ((await deps.queue.getDeduplicationJobId(deliveryKey(subscriptionId))) !== job.id) {
    await deps.wake([subscriptionId]);
    return { handedOver: true };
  }
  const subscription = await subscriptionToDeliver(deps.knex, deps.box, subscriptionId);
  if (subscription?.state !== 'active') return { delivered: 0 };

  const limit = job.attemptsMade > 0 ? 1 : EVENTS_PER_RUN;
  const events: RecordedEvent[] = [];
  for await (const event of context.deps.eventStore.readAll({ from: subscription.position ?? 'start', filter: subscription.filter, maxCount: limit })) events.push(event);

  let position = subscription.position;
  for (const event of events) {
    context.signal.throwIfAborted(); // the worker is stopping: the job goes back to the queue
    const answer = await post(subscription, event, context);
    const delivered = answer.error === null;
    const suspend = !delivered && isLastAttempt(job, answer.error);
    const attempt = job.attemptsMade + 1;
    const state = await recordDelivery(deps.knex, { ...subscription, position }, event, { ...answer, status: delivered ? 'delivered' : 'failed', attempt }, suspend);
    if (!state) return { stopped: 'the subscription was reset, paused or deleted' }; // resuming or a reset wakes it again
    if (suspend) {
      const data = { subscriptionId, eventId: event.id, position: event.position, attempts: attempt, error: answer.error! };
      await context.send(webhookStreamId(subscriptionId), webhookDecider, { type: 'SuspendWebhookDelivery', data }, `suspend-${subscription.generation}-${event.id}`);
      return { suspended: event.id };
    }
    if (!delivered) throw new Error(`${subscription.url} ${answer.error}`);
    position = event.position;
    if (state === 'paused') return { paused: true };
  }
  if (events.length === limit) await deps.wake([subscriptionId]); // more may follow: kept for when this run ends
  return { delivered: events.length };
}

/**
 * POSTs the event as a CloudEvent signed the Standard Webhooks way. Any 2xx is a delivery (error
 * null); anything else, no answer in time or no connection, a failure.
 */
async function post(subscription: SubscriptionToDeliver, event: RecordedEvent, context: JobContext): Promise<Omit<DeliveryAttempt, 'status' | 'attempt'>> {
  const { timeoutMs } = context.deps.settings.http;
  const body = JSON.stringify(toCloudEvent(event));
  const started = performance.now();
  const duration = () => Math.round(performance.now() - started);
  try {
    // Through the outbound guard, which never follows a redirect: the subscription names the exact
    // URL, so a 3xx is a failure like any other non-2xx answer.
    const response = await context.deps.outbound.fetch(subscription.url, {
      method: 'POST',
      body,
      headers: { 'content-type': CLOUD_EVENTS_CONTENT_TYPE, ...standardWebhookHeaders(subscription.secret, event.id, body) },
      signal: AbortSignal.any([context.signal, AbortSignal.timeout(timeoutMs)]),
    });
    await response.body?.cancel();
    return { httpStatus: response.status, error: response.ok ? null : `answered ${response.status}`, durationMs: duration() };
  } catch (error) {
    if (context.signal.aborted) throw error;
    // What happened to the owner's request, never what lives on the network (addresses, ports).
    return { httpStatus: null, error: describeOutboundFailure(error, timeoutMs), durationMs: duration() };
  }
}
