import { z } from 'zod';
import type { EventFilter, EventStore, Position, RecordedEvent } from '../eventstore/contract.js';
import { matchesFilter } from '../eventstore/filter.js';
import { comparePositions } from '../eventstore/position.js';
import { EVENT_TYPE, STREAM_ID } from '../eventstore/validation.js';
import { PositionToken, commaList } from '../queries/query-params.js';
import { AuditEvent, toAuditEvent } from './audit-event.js';
import { DEAL_CATEGORIES, DealStreams } from './deal-streams.js';
import { AuditLimit, PositionCursor, deprecated, notBoth, positionCursor } from './query-params.js';

/** Events one page of the log may examine for a filter the store cannot apply (deal): no request scans the whole log. */
export const MAX_SCAN = 10_000;

const CATEGORY = /^[A-Za-z0-9_]{1,100}$/;

const Filters = {
  /** Any category or type the store could hold, known to this version or not: the audit reads history. */
  category: commaList((value) => CATEGORY.test(value), 'stream categories such as "deal"').optional().describe('Stream categories, comma-separated: `deal,action`'),
  type: commaList((value) => EVENT_TYPE.test(value), 'event types such as "DealCreated"').optional().describe('Event types, comma-separated: `DealCreated,DealClosed`'),
  dealId: z.uuid().optional().describe("A deal's events: those of its own stream and of its actions and agent runs"),
  deal: deprecated(z.uuid(), 'dealId', "a deal's events"),
};

/** The filters as the reads take them: `deal` is `dealId` by its old name. */
const withDealId = <Q extends { deal?: string | undefined; dealId?: string | undefined }>({ deal, dealId, ...rest }: Q) => {
  const id = dealId ?? deal;
  return { ...rest, ...(id ? { dealId: id } : {}) };
};

export const LogPageQuery = z
  .strictObject({
    ...Filters,
    cursor: PositionCursor.optional().describe('A `nextCursor` from a previous page; none: from the start of the log'),
    from: deprecated(PositionToken, 'cursor', 'the last position already seen (exclusive)'),
    limit: AuditLimit,
  })
  .superRefine(notBoth('deal', 'dealId'))
  .superRefine(notBoth('from', 'cursor'))
  .transform(({ cursor, from, ...rest }) => {
    const after = cursor ?? from;
    return { ...withDealId(rest), ...(after ? { from: after } : {}) };
  });
export type LogPageQuery = z.output<typeof LogPageQuery>;

export const ExportQuery = z
  .strictObject({
    ...Filters,
    stream: z.string().regex(STREAM_ID, 'must be a stream id: 1 to 200 characters without whitespace, not starting with "$"').optional().describe("One stream's events"),
    /** Not a page's cursor: the export's range, given by positions. */
    from: PositionToken.optional().describe('Exclusive: the events after this position'),
    to: PositionToken.optional().describe('Inclusive: the last position to export'),
  })
  .superRefine(notBoth('deal', 'dealId'))
  .transform(withDealId);
export type LogSelection = z.output<typeof ExportQuery>;

/** A page of the log. */
export const LogPage = z.object({
  items: z.array(AuditEvent),
  nextCursor: z
    .string()
    .nullable()
    .describe('Opaque: pass it as `cursor` to read on. It passes every event examined, even on a short or empty page, and stays where the log ends once `caughtUp`: come back with it for what is appended later. Null only for an empty log read from its start'),
  caughtUp: z.boolean().describe('The read reached the end of the log: page on until it is true'),
});
export type LogPage = z.input<typeof LogPage>;

/**
 * A page of the log after `from` (the cursor's position). Category and type filters are the
 * store's (it returns only matching events, so `limit` of them fill the page); a deal is filtered
 * here, over at most MAX_SCAN events, so a page may come back short or empty with a cursor that
 * has still advanced.
 */
export async function logPage(store: EventStore, query: LogPageQuery): Promise<LogPage> {
  const maxCount = query.dealId ? MAX_SCAN : query.limit;
  const items: AuditEvent[] = [];
  let examined = 0;
  let last = query.from ?? null;
  for await (const { event, selected } of examine(store, query, maxCount)) {
    examined++;
    last = event.position;
    if (selected && items.push(toAuditEvent(event)) === query.limit) break;
  }
  return { items, nextCursor: last === null ? null : positionCursor(last), caughtUp: examined < maxCount && items.length < query.limit };
}

/** Every event of a selection, in log order (an export). */
export async function* selectedEvents(store: EventStore, selection: LogSelection): AsyncGenerator<RecordedEvent> {
  for await (const { event, selected } of examine(store, selection)) if (selected) yield event;
}

/**
 * The events a selection reads, each marked selected or not by the filter applied here (deal), up
 * to `to`. `maxCount` bounds a read of the log; a stream is read whole (it is bounded by itself).
 */
async function* examine(store: EventStore, selection: LogSelection, maxCount?: number): AsyncGenerator<{ event: RecordedEvent; selected: boolean }> {
  const deal = selection.dealId ? new DealStreams(store, selection.dealId) : undefined;
  const filter = storeFilter(selection);
  const events = selection.stream
    ? streamAfter(store, selection.stream, filter, selection.from)
    : store.readAll({ from: selection.from ?? 'start', filter, ...(maxCount === undefined ? {} : { maxCount }) });
  for await (const event of events) {
    if (selection.to && comparePositions(event.position, selection.to) > 0) return;
    yield { event, selected: deal ? await deal.includes(event) : true };
  }
}

/** What the store filters itself: a deal narrows the categories to those that can concern one. */
function storeFilter(selection: LogSelection): EventFilter {
  const categories = selection.dealId
    ? (selection.category ?? DEAL_CATEGORIES).filter((category) => (DEAL_CATEGORIES as readonly string[]).includes(category))
    : selection.category;
  return { ...(categories ? { categories } : {}), ...(selection.type ? { eventTypes: selection.type } : {}) };
}

/** A stream's events after a position: within a stream, position order is revision order. */
async function* streamAfter(store: EventStore, streamId: string, filter: EventFilter, from: Position | undefined): AsyncGenerator<RecordedEvent> {
  for await (const event of store.readStream(streamId)) {
    if (from && comparePositions(event.position, from) <= 0) continue;
    if (matchesFilter(event, filter)) yield event;
  }
}
