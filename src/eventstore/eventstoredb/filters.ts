import { EVENT_TYPE, STREAM_NAME, type RegexFilter } from '@eventstore/db-client';
import type { EventFilter } from '../contract.js';

/** What EventStoreDB filters on its side: one regex, on either stream names or event types. */
export type ServerFilter = Pick<RegexFilter, 'filterOn' | 'regex'>;

/**
 * The part of a filter EventStoreDB applies itself. It filters on stream names or on event types,
 * not both, so it gets the most selective list (stream ids, then event types, then categories);
 * readers check the whole filter with `matchesFilter` on what arrives. Without a filter, system
 * streams (`$…`) are left out on the server, which then still sends checkpoints.
 */
export function serverFilter(filter: EventFilter | undefined): ServerFilter {
  if (filter?.streamIds) return { filterOn: STREAM_NAME, regex: `^${oneOf(filter.streamIds)}$` };
  if (filter?.eventTypes) return { filterOn: EVENT_TYPE, regex: `^${oneOf(filter.eventTypes)}$` };
  // A stream named just the category belongs to it too: the category is everything before the first dash.
  if (filter?.categories) return { filterOn: STREAM_NAME, regex: `^${oneOf(filter.categories)}(?:-|$)` };
  return { filterOn: STREAM_NAME, regex: '^[^$]' };
}

/** EventStoreDB's own streams; dealstream's stream ids never start with `$`. */
export function isSystemStream(streamId: string): boolean {
  return streamId.startsWith('$');
}

/** A regex group matching exactly one of the values; an empty list matches nothing. */
function oneOf(values: readonly string[]): string {
  return values.length === 0 ? '(?!)' : `(?:${values.map(escapeRegex).join('|')})`;
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
