import type { Request } from 'express';
import { z } from 'zod';
import type { EventFilter, Position } from '../eventstore/contract.js';
import { decodePosition } from '../eventstore/position.js';
import { LogPosition, commaList } from '../queries/query-params.js';
import { EVENT_CATEGORIES, isCategory, isEventType, isStreamId } from './event-types.js';

export const FeedQuery = z.strictObject({
  category: commaList(isCategory, `of ${EVENT_CATEGORIES.join(', ')}`).optional(),
  type: commaList(isEventType, 'event types (see /api/integrations/event-types)').optional(),
  stream: commaList(isStreamId, `stream ids such as deal-<dealId> (categories: ${EVENT_CATEGORIES.join(', ')})`).optional(),
  /** Exclusive: 'start', 'end' or an event's id (its position). */
  from: LogPosition.optional(),
});

export interface FeedSubscription {
  from: Position | 'start' | 'end';
  filter: EventFilter;
}

/**
 * Where a feed request starts and what it keeps. A reconnecting EventSource sends the last id it saw
 * as `Last-Event-ID` with the URL it first opened, so the header wins over `from`; with neither the
 * feed starts at the end. Throws (a 400 naming the field) on anything malformed.
 */
export function feedSubscription(req: Request): FeedSubscription {
  const query = FeedQuery.parse(req.query);
  const filter: EventFilter = { categories: query.category, eventTypes: query.type, streamIds: query.stream };
  const lastEventId = req.get('last-event-id');
  if (!lastEventId) return { from: query.from ?? 'end', filter };
  decodePosition(lastEventId, 'Last-Event-ID'); // InvalidInputError naming the header: a 400
  return { from: lastEventId, filter };
}
