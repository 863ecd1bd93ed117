import { EVENT_TYPE, STREAM_NAME, type RegexFilter } from '@eventstore/db-client';
import type { EventFilter } from '../contract.js';

/** What EventStoreDB filters on its side: one regex, on either stream names or event types. */
export type ServerFilter = Pick<RegexFilter, 'filterOn' | 'regex'>;

/**
 * The part of a filter EventStoreDB applies itself. It filters on stream names or on event types,
 * not both, so it gets the most selective list (stream ids, then event types, then categories);
 * readers check the whole filter with `matchesFilter` on what arrives. Without a filter, streams
 * that are not dealstream's events (see `isHiddenStream`) are left out on the server, which then
 * still sends checkpoints.
 */
export function serverFilter(filter: EventFilter | undefined): ServerFilter {
  if (filter?.streamIds) return { filterOn: STREAM_NAME, regex: `^${oneOf(filter.streamIds)}$` };
  if (filter?.eventTypes) return { filterOn: EVENT_TYPE, regex: `^${oneOf(filter.eventTypes)}$` };
  // A stream named just the category belongs to it too: the category is everything before the first dash.
  if (filter?.categories) return { filterOn: STREAM_NAME, regex: `^${oneOf(filter.categories)}(?:-|$)` };
  return { filterOn: STREAM_NAME, regex: `^(?!\\$|${SNAPSHOT_STREAM_PREFIX})` };
}

/** Snapshot streams: a cache beside the log (see `snapshotStreamId`), not events of it. */
export const SNAPSHOT_STREAM_PREFIX = 'snapshot-';

/** The stream holding a stream's snapshots of one name and version. */
export function snapshotStreamId(streamId: string, name: string, version: number): string {
  return `${SNAPSHOT_STREAM_PREFIX}${name}.v${version}-${streamId}`;
}

/**
 * Streams readers of the log never see: EventStoreDB's own (dealstream's stream ids never start
 * with `$`) and snapshot streams (no dealstream category is `snapshot`).
 */
export function isHiddenStream(streamId: string): boolean {
  return streamId.startsWith('$') || streamId.startsWith(SNAPSHOT_STREAM_PREFIX);
}

/** A regex group matching exactly one of the values; an empty list matches nothing. */
function oneOf(values: readonly string[]): string {
  return values.length === 0 ? '(?!)' : `(?:${values.map(escapeRegex).join('|')})`;
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
