import { storedSchemaVersion } from '../../domain/shared/upcasting.js';
import type { JsonObject, RecordedEvent } from '../../eventstore/contract.js';

/** Structured mode: the whole event, attributes and data, is the JSON body. */
export const CLOUD_EVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/**
 * A stored event as a CloudEvent 1.0 (JSON format), in its stored shape. Position and revision
 * travel as extension attributes (lowercase letters and digits, as the spec asks), as strings: a
 * position is an opaque token, and a revision may outgrow the spec's 32-bit integers. The schema
 * version is a small integer.
 */
export interface CloudEvent {
  specversion: '1.0';
  /** The event's id: with `source`, unique; receivers dedupe by it (it is also the webhook-id). */
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: JsonObject;
  dealstreamposition: string;
  dealstreamrevision: string;
  /**
   * The schema version of `data`: webhooks send the event as stored, so an event written before its
   * type last changed keeps its older shape, and says so here (the shapes: GET
   * /api/integrations/event-types/:type, `version` and `earlierVersions`).
   */
  dealstreamschemaversion: number;
}

export function toCloudEvent(event: RecordedEvent): CloudEvent {
  return {
    specversion: '1.0',
    id: event.id,
    source: `/dealstream/${encodeURIComponent(event.streamId)}`,
    type: `dealstream.${event.type}`,
    subject: event.streamId,
    time: event.recordedAt.toISOString(),
    datacontenttype: 'application/json',
    data: event.data,
    dealstreamposition: event.position,
    dealstreamrevision: event.revision.toString(),
    dealstreamschemaversion: storedSchemaVersion(event) as number,
  };
}
