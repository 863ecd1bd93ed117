import { randomUUID } from 'node:crypto';
import type { LogPosition, StoredEvent } from './event-log.js';
import { shared, streams, type ReadResp, type StreamIdentifier } from './protocol.js';
import { uuidMessage } from './uuid.js';

/** The Streams.Read responses, shaped as EventStoreDB 23.x sends them. */

export function streamIdentifier(streamId: string): StreamIdentifier {
  return new shared.StreamIdentifier().setStreamName(Buffer.from(streamId, 'utf8'));
}

export function streamName(identifier: StreamIdentifier | undefined): string | undefined {
  return identifier ? Buffer.from(identifier.getStreamName_asU8()).toString('utf8') : undefined;
}

/** An event with its position (stream reads carry it too: the server advertises the "position" feature). */
export function eventResponse(event: StoredEvent, structuredUuids: boolean): ReadResp {
  const recorded = new streams.ReadResp.ReadEvent.RecordedEvent()
    .setId(uuidMessage(event.id, structuredUuids))
    .setStreamIdentifier(streamIdentifier(event.streamId))
    .setStreamRevision(event.revision.toString())
    .setCommitPosition(event.position.commit.toString())
    .setPreparePosition(event.position.prepare.toString())
    .setData(event.data)
    .setCustomMetadata(event.customMetadata);
  recorded
    .getMetadataMap()
    .set('type', event.type)
    .set('content-type', event.isJson ? 'application/json' : 'application/octet-stream')
    .set('created', event.created.toString());
  const readEvent = new streams.ReadResp.ReadEvent().setEvent(recorded).setCommitPosition(event.position.commit.toString());
  return new streams.ReadResp().setEvent(readEvent);
}

export function confirmationResponse(): ReadResp {
  return new streams.ReadResp().setConfirmation(new streams.ReadResp.SubscriptionConfirmation().setSubscriptionId(randomUUID()));
}

export function caughtUpResponse(): ReadResp {
  return new streams.ReadResp().setCaughtUp(new streams.ReadResp.CaughtUp());
}

export function checkpointResponse(position: LogPosition): ReadResp {
  const checkpoint = new streams.ReadResp.Checkpoint()
    .setCommitPosition(position.commit.toString())
    .setPreparePosition(position.prepare.toString());
  return new streams.ReadResp().setCheckpoint(checkpoint);
}

export function streamNotFoundResponse(streamId: string): ReadResp {
  const notFound = new streams.ReadResp.StreamNotFound().setStreamIdentifier(streamIdentifier(streamId));
  return new streams.ReadResp().setStreamNotFound(notFound);
}
