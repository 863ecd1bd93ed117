import { storedSchemaVersion } from '../domain/shared/upcasting.js';
import { upcast } from '../domain/upcasters.js';
import type { JsonObject, Position, RecordedEvent } from '../eventstore/contract.js';
import { withDeprecatedFields } from '../http/deprecated-event-fields.js';

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

/** An event as the export writes it: see toExportedEvent. */
export interface ExportedEvent extends AuditEvent {
  /** Only on an event stored in an older shape of its type: the version it is stored at. */
  storedSchemaVersion?: number;
}

/**
 * An event as the export writes it: in its type's current shape, the version in
 * `metadata.schemaVersion`, so that one type reads the same on every line whenever it was written
 * (renamed fields keep their old name beside the new one for a release). An event stored in an
 * older shape says so in `storedSchemaVersion`: its hash covers the stored shape, which a
 * stream's history (`/api/audit/streams/:id/events`) and verification read.
 */
export function toExportedEvent(event: RecordedEvent): ExportedEvent {
  const current = upcast(event);
  const exported = toAuditEvent(current);
  exported.data = withDeprecatedFields(event.type, exported.data);
  const stored = storedSchemaVersion(event);
  return stored === current.metadata.schemaVersion ? exported : { ...exported, storedSchemaVersion: stored as number };
}
