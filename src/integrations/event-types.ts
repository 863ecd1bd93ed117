import type { z } from 'zod';
import { ActionEventSchemas } from '../domain/actions/action.events.js';
import { AgentEventSchemas, AgentRunEventSchemas } from '../domain/agents/agent.events.js';
import { DealEventSchemas } from '../domain/deals/deal.events.js';
import { PrincipalEventSchemas } from '../domain/principals/principal.events.js';
import { WebhookEventSchemas } from '../domain/webhooks/webhook.events.js';
import { WorkerEventSchemas } from '../domain/workers/worker.events.js';
import { categoryOf } from '../eventstore/filter.js';

export interface EventTypeInfo {
  /** The part of the stream id before the first dash: what the feed's `category` filter matches. */
  category: string;
  /** The ids of the streams holding this type, e.g. `deal-<dealId>`. */
  stream: string;
  /** The domain's own schema of the event's data. */
  data: z.ZodType;
}

/** The domain's schema maps, each with the streams it is stored in. */
const STREAMS = [
  { category: 'deal', stream: 'deal-<dealId>', schemas: DealEventSchemas },
  { category: 'action', stream: 'action-<actionId>', schemas: ActionEventSchemas },
  { category: 'agent', stream: 'agent-<agentId>', schemas: AgentEventSchemas },
  { category: 'agent', stream: 'agent-<agentId>-run-<runId>', schemas: AgentRunEventSchemas },
  { category: 'worker', stream: 'worker-<workerId>', schemas: WorkerEventSchemas },
  { category: 'principal', stream: 'principal-<principalId>', schemas: PrincipalEventSchemas },
  { category: 'webhook', stream: 'webhook-<subscriptionId>', schemas: WebhookEventSchemas },
];

/** Every event type the domain defines, taken from its schema maps so that a new type is not forgotten. */
export const EVENT_TYPES: ReadonlyMap<string, EventTypeInfo> = new Map(
  STREAMS.flatMap(({ category, stream, schemas }) =>
    Object.entries(schemas).map(([type, data]): [string, EventTypeInfo] => [type, { category, stream, data }]),
  ),
);

export const EVENT_CATEGORIES: readonly string[] = [...new Set(STREAMS.map(({ category }) => category))];

export const isCategory = (value: string): boolean => EVENT_CATEGORIES.includes(value);
export const isEventType = (value: string): boolean => EVENT_TYPES.has(value);
/** A stream of a known category, e.g. `deal-<dealId>`, of at most 200 characters: a bare deal id is refused rather than matching nothing. */
export const isStreamId = (value: string): boolean => value.length <= 200 && /^\S+-\S+$/.test(value) && isCategory(categoryOf(value));
