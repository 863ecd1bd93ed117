import { z } from 'zod';
import { withDeprecatedFields } from '../http/deprecated-event-fields.js';
import { TIMELINE_CATEGORIES, TIMELINE_EVENT_TYPES } from '../projections/timeline/timeline.projection.js';
import { Actor, pageOf, Timestamp } from './answers.js';
import { Limit, cursorOf, keysetPage } from './pagination.js';
import { PositionToken, commaList } from './query-params.js';
import { queryRoute } from './query-route.js';

export const RecentEventsQuery = z.strictObject({
  category: commaList((value) => (TIMELINE_CATEGORIES as readonly string[]).includes(value), `of ${TIMELINE_CATEGORIES.join(', ')}`).optional(),
  type: commaList((value) => (TIMELINE_EVENT_TYPES as readonly string[]).includes(value), 'event types').optional(),
  dealId: z.uuid().optional(),
  limit: Limit,
  cursor: cursorOf(z.tuple([PositionToken, PositionToken])).optional(),
});

const RecentEvent = z
  .strictObject({
    position: z.string().describe("The event's position in the log: hand it to queries as `position` to wait until they include it"),
    id: z.guid().describe("The event's id"),
    streamId: z.string(),
    category: z.enum(TIMELINE_CATEGORIES),
    type: z.enum(TIMELINE_EVENT_TYPES),
    dealId: z.string().nullable().describe('The deal it concerns, if any'),
    actor: Actor,
    occurredAt: Timestamp,
    summary: z.string().describe('One line for people'),
    data: z.record(z.string(), z.unknown()).describe("The event's data in its type's current shape (see GET /api/integrations/event-types)"),
  })
  .meta({ id: 'RecentEvent', description: 'An event of the recent-events timeline' });

interface RecentEventRow extends Record<string, unknown> {
  position: string;
  event_id: string;
  stream_id: string;
  category: (typeof TIMELINE_CATEGORIES)[number];
  type: (typeof TIMELINE_EVENT_TYPES)[number];
  deal_id: string | null;
  actor_kind: Actor['kind'];
  actor_id: string;
  occurred_at: Date;
  summary: string;
  data: Record<string, unknown>;
}

const COLUMNS = ['position', 'event_id', 'stream_id', 'category', 'type', 'deal_id', 'actor_kind', 'actor_id', 'occurred_at', 'summary', 'data'];

/** The timeline query: the latest events across the system. */
export const timelineQueries = [
  queryRoute({
    path: '/events/recent',
    summary: 'The latest events across the system, newest first; filter by category, deal or event type',
    query: RecentEventsQuery,
    response: pageOf(RecentEvent),
    reads: ['timeline'],
    handler: async (query, { knex }) => {
      const select = knex('read.recent_events').select(COLUMNS);
      if (query.category) select.whereIn('category', query.category);
      if (query.type) select.whereIn('type', query.type);
      if (query.dealId) select.where('deal_id', query.dealId);
      // The position is unique, so it is its own tiebreak.
      const page = await keysetPage<RecentEventRow>(select, {
        sort: 'position',
        tiebreak: 'position',
        direction: 'desc',
        cursor: query.cursor,
        limit: query.limit,
        keys: ['position', 'position'],
      });
      return { items: page.items.map(toItem), nextCursor: page.nextCursor };
    },
  }),
];

function toItem(row: RecentEventRow): z.infer<typeof RecentEvent> {
  return {
    position: row.position,
    id: row.event_id,
    streamId: row.stream_id,
    category: row.category,
    type: row.type,
    dealId: row.deal_id,
    actor: { kind: row.actor_kind, id: row.actor_id },
    occurredAt: row.occurred_at.toISOString(),
    summary: row.summary,
    data: withDeprecatedFields(row.type, row.data),
  };
}
