import type { Request } from 'express';
import { z } from 'zod';
import type { EventFilter, Position } from '../eventstore/contract.js';
import { decodePosition } from '../eventstore/position.js';
import { EVENT_CATEGORIES, EVENT_TYPES } from './event-types.js';

/** One value or a comma list (`?category=deal,action`), each value passing `accepts`. */
function commaList(accepts: (value: string) => boolean, expected: string) {
  return z
    .string()
    .max(4000)
    .transform((text, context) => {
      const values = [...new Set(text.split(',').map((value) => value.trim()))];
      const rejected = values.filter((value) => !accepts(value));
      if (rejected.length === 0) return values;
      context.addIssue({ code: 'custom', message: `must be one or more ${expected}, comma-separated; not: ${rejected.join(', ') || '(empty)'}` });
      return z.NEVER;
    });
}

/** A stream of a known category, e.g. `deal-<dealId>`: a bare deal id is refused rather than matching nothing. */
const STREAM_ID = new RegExp(`^(?:${EVENT_CATEGORIES.join('|')})-\\S+$`);
const isStreamId = (value: string) => value.length <= 200 && STREAM_ID.test(value);

export const FeedQuery = z.strictObject({
  category: commaList((value) => EVENT_CATEGORIES.includes(value), `of ${EVENT_CATEGORIES.join(', ')}`).optional(),
  type: commaList((value) => EVENT_TYPES.has(value), 'event types (see /api/integrations/event-types)').optional(),
  stream: commaList(isStreamId, `stream ids such as deal-<dealId> (categories: ${EVENT_CATEGORIES.join(', ')})`).optional(),
  /** 'start', 'end' or an event's id (its position), exclusive; checked below so that the 400 names it. */
  from: z.string().optional(),
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
  if (lastEventId) return { from: positionToken(lastEventId, 'Last-Event-ID'), filter };
  if (query.from === undefined || query.from === 'start' || query.from === 'end') return { from: query.from ?? 'end', filter };
  return { from: positionToken(query.from, 'from'), filter };
}

function positionToken(token: string, field: string): Position {
  decodePosition(token, field); // InvalidInputError naming the field: a 400
  return token;
}
