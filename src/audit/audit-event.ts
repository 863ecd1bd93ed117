import { z } from 'zod';
import { Actor } from '../domain/shared/event.js';
import { storedSchemaVersion } from '../domain/shared/upcasting.js';
import { upcast } from '../domain/upcasters.js';
import type { RecordedEvent } from '../eventstore/contract.js';
import { withDeprecatedFields } from '../http/deprecated-event-fields.js';

/**
 * An event as auditors and integrations see it: the whole envelope, with every metadata field
 * stored (actor, causation, hash chain…), as stored (the known metadata fields are optional: events
 * written around the commands, by a seed or an import, may lack them).
 */
export const AuditEvent = z.object({
  // The store's own rule: any UUID, whatever its version.
  id: z.guid(),
  streamId: z.string().describe('`<category>-<id>`, e.g. `deal-<dealId>`'),
  revision: z.string().regex(/^\d+$/).describe("The event's place in its stream, from 0: a decimal string, revisions are 64-bit"),
  position: z.string().describe("The event's place in the whole log: an opaque token, in the log's order when compared as strings"),
  type: z.string().describe('The event type, e.g. `DealCreated`'),
  recordedAt: z.iso.datetime().describe("When the store appended it, by the store's clock"),
  data: z.record(z.string(), z.unknown()).describe("The event's data in the shape of its `metadata.schemaVersion` (GET /api/integrations/event-types/{type})"),
  metadata: z
    .looseObject({
      correlationId: z.string().optional(),
      causationId: z.string().optional(),
      actor: Actor.optional().describe('Who caused it'),
      occurredAt: z.string().optional().describe('When it happened, by the clock of the process that sent the command (ISO 8601)'),
      schemaVersion: z.number().int().optional().describe("The version of its type's shape that `data` has; absent: 1"),
      prevHash: z.string().optional().describe("The previous event's hash in the stream's hash chain"),
      hash: z.string().optional().describe('SHA-256 over prevHash and the canonical JSON of this event'),
    })
    .describe('Every metadata field stored'),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

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
