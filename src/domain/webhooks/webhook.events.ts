import { z } from 'zod';
import type { DomainEvent } from '../shared/event.js';

/**
 * Events of a webhook subscription's stream (`webhook-<subscriptionId>`): when its delivery stopped
 * at an event that could not be delivered within the retry schedule, and when its owner resumed it.
 * The subscription itself (URL, secret, filter) is configuration, kept out of the log.
 */
export const WebhookEventSchemas = {
  WebhookDeliverySuspended: z.object({
    subscriptionId: z.string(),
    /** The event not delivered: delivery resumes with it. */
    eventId: z.string(),
    position: z.string(),
    attempts: z.number().int().min(1),
    /** The last attempt's failure, as its owner sees it. */
    error: z.string(),
  }),
  WebhookDeliveryResumed: z.object({ subscriptionId: z.string(), eventId: z.string() }),
} as const;

type Events<Schemas extends Record<string, z.ZodType>> = {
  [Type in keyof Schemas & string]: DomainEvent<Type, z.infer<Schemas[Type]>>;
}[keyof Schemas & string];
export type WebhookEvent = Events<typeof WebhookEventSchemas>;

export const webhookStreamId = (subscriptionId: string) => `webhook-${subscriptionId}`;
