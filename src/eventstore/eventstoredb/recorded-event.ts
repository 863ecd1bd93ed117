import type { RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import type { JsonObject, Position, RecordedEvent } from '../contract.js';
import { toToken } from './positions.js';

/** An event as the client reads it, in the contract's shape (`position`: its token, when the caller has it already). */
export function toRecordedEvent(event: EsdbRecordedEvent, position?: Position): RecordedEvent {
  if (!event.position) throw new Error(`EventStoreDB sent event ${event.id} without its position (EventStoreDB 22.6 or later is needed)`);
  return {
    id: event.id,
    streamId: event.streamId,
    type: event.type,
    revision: event.revision,
    position: position ?? toToken(event.position),
    data: jsonObject(event.isJson ? event.data : undefined, event, 'data'),
    metadata: event.metadata === undefined ? {} : jsonObject(event.metadata, event, 'metadata'),
    // The client has already turned EventStoreDB's ticks (100 ns since the Unix epoch) into a Date.
    recordedAt: event.created,
  };
}

/** The adapter writes JSON objects only; anything else was written by someone else. */
function jsonObject(value: unknown, event: EsdbRecordedEvent, part: 'data' | 'metadata'): JsonObject {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)) return value as JsonObject;
  throw new Error(`Event ${event.id} in ${event.streamId} (revision ${event.revision}) has ${part} that is not a JSON object`);
}
