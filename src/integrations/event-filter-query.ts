import type { Request } from 'express';
import { z } from 'zod';
import type { EventFilter, Position } from '../eventstore/contract.js';
import { decodePosition } from '../eventstore/position.js';
import { LogPosition, commaList } from '../queries/query-params.js';
import { hasRole, type Principal } from '../auth/principal.js';
import { InvalidInputError } from '../eventstore/errors.js';
import { categoryOf } from '../eventstore/filter.js';
import { EVENT_CATEGORIES, EVENT_TYPES, isCategory, isEventType, isStreamId } from './event-types.js';

export const FeedQuery = z.strictObject({
  category: commaList(isCategory, `of ${EVENT_CATEGORIES.join(', ')}`).optional().describe(`Stream categories, comma-separated (${EVENT_CATEGORIES.join(', ')})`),
  type: commaList(isEventType, 'event types (see /api/integrations/event-types)').optional().describe('Event types, comma-separated: `DealCreated,DealClosed`'),
  stream: commaList(isStreamId, `stream ids such as deal-<dealId> (categories: ${EVENT_CATEGORIES.join(', ')})`).optional().describe('Stream ids, comma-separated: `deal-<dealId>`'),
  /** Exclusive: 'start', 'end' or an event's id (its position). Not a page's cursor: where a live feed begins. */
  from: LogPosition.optional().describe('Where to begin, exclusive: `start`, `end` (the default: live only) or an event\'s position (its SSE id); `Last-Event-ID` wins over it'),
  events: z
    .enum(['message', 'named'])
    .default('message')
    .describe('`message` (the default): every event is an unnamed SSE message, for `EventSource.onmessage`; its type is in the data\'s `type`. `named`: each carries `event: <type>`, for `addEventListener(type)`'),
});

export interface FeedSubscription {
  from: Position | 'start' | 'end';
  filter: EventFilter;
  /** Each message names its event type (`event:`), for clients that listen by type. */
  named: boolean;
}

/**
 * Where a feed request starts and what it keeps. A reconnecting EventSource sends the last id it saw
 * as `Last-Event-ID` with the URL it first opened, so the header wins over `from`; with neither the
 * feed starts at the end. Throws (a 400 naming the field) on anything malformed.
 */
export function feedSubscription(req: Request, principal: Principal): FeedSubscription {
  const query = FeedQuery.parse(req.query);
  const filter = visibleFilter({ categories: query.category, eventTypes: query.type, streamIds: query.stream }, principal, { categories: 'category', eventTypes: 'type', streamIds: 'stream' });
  const named = query.events === 'named';
  const lastEventId = req.get('last-event-id');
  if (!lastEventId) return { from: query.from ?? 'end', filter, named };
  decodePosition(lastEventId, 'Last-Event-ID'); // InvalidInputError naming the header: a 400
  return { from: lastEventId, filter, named };
}

/**
 * Who may do what, and how each integration's webhooks fare, is for admins and auditors: an
 * integration's feed or webhook leaves those categories out.
 */
const PRIVATE_CATEGORIES: readonly string[] = ['principal', 'webhook'];

/**
 * The filter as this caller may have it: for anyone but an admin or auditor, a filter naming a
 * private category (by category, type or stream) is a 400 naming the field, and one that names no
 * category gets every other category.
 */
export function visibleFilter(filter: EventFilter, principal: Principal, fields: Record<keyof EventFilter, string>): EventFilter {
  if (hasRole(principal, ['admin', 'auditor'])) return filter;
  const isPrivate = (category: string | undefined) => category !== undefined && PRIVATE_CATEGORIES.includes(category);
  const named: [keyof EventFilter, string | undefined][] = [
    ['categories', filter.categories?.find(isPrivate)],
    ['eventTypes', filter.eventTypes?.map((type) => EVENT_TYPES.get(type)?.category).find(isPrivate)],
    ['streamIds', filter.streamIds?.map(categoryOf).find(isPrivate)],
  ];
  const [field, category] = named.find(([, hit]) => hit) ?? [];
  if (field) throw new InvalidInputError(fields[field], `the ${category} category is for admins and auditors`);
  return filter.categories ? filter : { ...filter, categories: EVENT_CATEGORIES.filter((each) => !isPrivate(each)) };
}
