import { z } from 'zod';
import type { EventFilter, EventStore, Position, RecordedEvent } from '../eventstore/contract.js';
import { matchesFilter } from '../eventstore/filter.js';
import { comparePositions } from '../eventstore/position.js';
import { EVENT_TYPE, STREAM_ID } from '../eventstore/validation.js';
import { PositionToken, commaList } from '../queries/query-params.js';
import { toAuditEvent, type AuditEvent } from './audit-event.js';
import { DEAL_CATEGORIES, DealStreams } from './deal-streams.js';
import { AuditLimit } from './query-params.js';

/** Events one page of the log may examine for a filter the store cannot apply (deal): no request scans the whole log. */
export const MAX_SCAN = 10_000;

const CATEGORY = /^[A-Za-z0-9_]{1,100}$/;

const Filters = {
  /** Any category or type the store could hold, known to this version or not: the audit reads history. */
  category: commaList((value) => CATEGORY.test(value), 'stream categories such as "deal"').optional(),
  type: commaList((value) => EVENT_TYPE.test(value), 'event types such as "DealCreated"').optional(),
  /** The events of the deal's stream and of its actions and agent runs. */
  deal: z.uuid().optional(),
  /** Exclusive: the last position already seen. */
  from: PositionToken.optional(),
};

export const LogPageQuery = z.strictObject({ ...Filters, limit: AuditLimit });
export type LogPageQuery = z.infer<typeof LogPageQuery>;

export const ExportQuery = z.strictObject({
  ...Filters,
  stream: z.string().regex(STREAM_ID, 'must be a stream id: 1 to 200 characters without whitespace, not starting with "$"').optional(),
  /** Inclusive: the last position to export. */
  to: PositionToken.optional(),
});
export type LogSelection = z.infer<typeof ExportQuery>;

export interface LogPage {
  items: AuditEvent[];
  /** The last position examined (pass it as `from`); the given `from` when nothing was, null for an empty log. */
  nextCursor: Position | null;
  /** The read reached the end of the log: a later request from `nextCursor` finds only what is appended meanwhile. */
  caughtUp: boolean;
}

/**
 * A page of the log after `from`. Category and type filters are the store's (it returns only
 * matching events, so `limit` of them fill the page); a deal is filtered here, over at most
 * MAX_SCAN events, so a page may come back short or empty with a cursor that has still advanced.
 */
export async function logPage(store: EventStore, query: LogPageQuery): Promise<LogPage> {
  const maxCount = query.deal ? MAX_SCAN : query.limit;
  const items: AuditEvent[] = [];
  let examined = 0;
  let last = query.from ?? null;
  for await (const { event, selected } of examine(store, query, maxCount)) {
    examined++;
    last = event.position;
    if (selected && items.push(toAuditEvent(event)) === query.limit) break;
  }
  return { items, nextCursor: last, caughtUp: examined < maxCount && items.length < query.limit };
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
  const deal = selection.deal ? new DealStreams(store, selection.deal) : undefined;
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
  const categories = selection.deal
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
