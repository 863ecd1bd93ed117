import type { JsonObject, Position, RecordedEvent } from '../eventstore/contract.js';

/** An event as auditors see it: the whole envelope, with every metadata field stored (actor, causation, hash chain…). */
export interface AuditEvent {
  id: string;
  streamId: string;
  /** A decimal string: revisions are 64-bit. */
  revision: string;
  position: Position;
  type: string;
  recordedAt: string;
  data: JsonObject;
  metadata: JsonObject;
}

export function toAuditEvent(event: RecordedEvent): AuditEvent {
  return {
    id: event.id,
    streamId: event.streamId,
    revision: event.revision.toString(),
    position: event.position,
    type: event.type,
    recordedAt: event.recordedAt.toISOString(),
    data: event.data,
    metadata: event.metadata,
  };
}
