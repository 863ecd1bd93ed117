import type { ServerWritableStream } from '@grpc/grpc-js';
import type { EventFilter } from './event-filter.js';
import type { EventLog, LogPosition, StoredEvent } from './event-log.js';
import type { ReadReq, ReadResp } from './protocol.js';
import { caughtUpResponse, checkpointResponse, confirmationResponse, eventResponse } from './read-messages.js';

export interface SubscriptionSource {
  /** The events to walk ($all or one stream's), fetched again on every pass as appends grow them. */
  events(): readonly StoredEvent[];
  /** Index of the first event after the subscription's start (starts are exclusive). */
  startIndex: number;
  /** Subscribed from the end: the server goes live at once, without a catch-up checkpoint. */
  startedAtEnd: boolean;
}

/**
 * A catch-up subscription as the server runs it: the confirmation, the events after the start,
 * `caughtUp` once the end of the log is reached, then each event as it is appended. One cursor
 * walks the log for history and live events alike, so nothing is missed or sent twice at the
 * seam; it pauses while grpc-js's send buffer is full.
 *
 * A filtered subscription also sends checkpoints, every `checkpointInterval` events it considers
 * and once more when it goes live. During catch-up the server checkpoints at the end of the last
 * record read with prepare position 0 (as in `(15465, 0)`); live, at the last event considered.
 */
export class Subscription {
  private cursor: number;
  private live = false;
  private consideredSinceCheckpoint = 0;
  private waitingForDrain = false;
  private stopped = false;
  private readonly stopFollowing: () => void;

  constructor(
    private readonly call: ServerWritableStream<ReadReq, ReadResp>,
    private readonly log: EventLog,
    private readonly source: SubscriptionSource,
    private readonly filter: EventFilter,
    private readonly structuredUuids: boolean,
  ) {
    this.cursor = source.startIndex;
    this.send(confirmationResponse());
    this.stopFollowing = log.onAppend(() => this.pump());
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.stopFollowing();
  }

  private pump(): void {
    const events = this.source.events();
    while (!this.stopped && !this.waitingForDrain && this.cursor < events.length) {
      const event = events[this.cursor++] as StoredEvent;
      if (this.filter.accepts(event)) this.send(eventResponse(event, this.structuredUuids));
      this.consider(event);
    }
    if (this.stopped || this.waitingForDrain || this.live || this.cursor < events.length) return;
    if (this.filter.checkpointInterval !== undefined && !this.source.startedAtEnd && this.log.all.length > 0) {
      this.checkpoint({ commit: this.log.end, prepare: 0n });
    }
    this.live = true;
    this.send(caughtUpResponse());
  }

  private consider(event: StoredEvent): void {
    const interval = this.filter.checkpointInterval;
    if (interval === undefined || ++this.consideredSinceCheckpoint < interval) return;
    this.checkpoint(this.live ? event.position : { commit: event.postPosition, prepare: 0n });
  }

  private checkpoint(position: LogPosition): void {
    this.consideredSinceCheckpoint = 0;
    this.send(checkpointResponse(position));
  }

  private send(message: ReadResp): void {
    if (this.call.write(message) || this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.call.once('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
  }
}
