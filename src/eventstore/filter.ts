import type { EventFilter } from './contract.js';

/** The category of a stream: the part of its id before the first dash (all of it when there is none). */
export function categoryOf(streamId: string): string {
  return streamId.split('-', 1)[0]!;
}

/** Whether an event passes a filter: every list given must hold the event's value. */
export function matchesFilter(event: { streamId: string; type: string }, filter: EventFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.categories && !filter.categories.includes(categoryOf(event.streamId))) return false;
  if (filter.eventTypes && !filter.eventTypes.includes(event.type)) return false;
  if (filter.streamIds && !filter.streamIds.includes(event.streamId)) return false;
  return true;
}
