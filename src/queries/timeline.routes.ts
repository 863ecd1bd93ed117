import { z } from 'zod';
import { withDeprecatedFields } from '../http/deprecated-event-fields.js';
import { TIMELINE_CATEGORIES, TIMELINE_EVENT_TYPES } from '../projections/timeline/timeline.projection.js';
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

interface RecentEventRow extends Record<string, unknown> {
  position: string;
  event_id: string;
  stream_id: string;
  category: string;
  type: string;
  deal_id: string | null;
  actor_kind: string;
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

function toItem(row: RecentEventRow) {
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
