import { status, type handleServerStreamingCall, type ServerWritableStream } from '@grpc/grpc-js';
import type { EventLog, StoredEvent } from './event-log.js';
import type { ReadReq, ReadResp } from './protocol.js';
import { eventResponse, streamNotFoundResponse } from './read-messages.js';
import { InvalidReadRequest, parseReadRequest, type AllStart, type ReadRequest, type StreamStart } from './read-request.js';
import { Subscription, type SubscriptionSource } from './subscription.js';

type ReadCall = ServerWritableStream<ReadReq, ReadResp>;

interface OpenRead {
  call: ReadCall;
  stop(): void;
}

/**
 * Streams.Read: reads of a stream or of $all (forwards or backwards, `count` events) and catch-up
 * subscriptions to either. It keeps track of its open calls so that a fault can end them all.
 */
export class ReadService {
  private readonly open = new Set<OpenRead>();

  constructor(private readonly log: EventLog) {}

  readonly read: handleServerStreamingCall<ReadReq, ReadResp> = (call) => {
    let request: ReadRequest;
    try {
      request = parseReadRequest(call.request);
    } catch (error) {
      if (!(error instanceof InvalidReadRequest)) throw error;
      call.emit('error', { code: status.INVALID_ARGUMENT, details: error.message });
      return;
    }
    if (request.mode.kind === 'subscription') this.subscribe(call, request);
    else void this.readOnce(call, request, request.mode);
  };

  /** Ends every open read and subscription with `code`, as a restarting server would. */
  dropAll(code: status, details: string): void {
    for (const open of [...this.open]) {
      this.open.delete(open);
      open.stop();
      open.call.emit('error', { code, details });
    }
  }

  private subscribe(call: ReadCall, request: ReadRequest): void {
    const subscription = new Subscription(call, this.log, this.subscriptionSource(request.source), request.filter, request.structuredUuids);
    this.track(call, () => subscription.stop());
  }

  private subscriptionSource(source: ReadRequest['source']): SubscriptionSource {
    const startedAtEnd = source.from === 'end';
    if (source.kind === 'stream') {
      const events = () => this.log.stream(source.streamId);
      const startIndex = source.from === 'start' ? 0 : source.from === 'end' ? events().length : Number(source.from) + 1;
      return { events, startIndex, startedAtEnd };
    }
    const startIndex = source.from === 'start' ? 0 : source.from === 'end' ? this.log.all.length : this.log.indexAfter(source.from);
    return { events: () => this.log.all, startIndex, startedAtEnd };
  }

  private async readOnce(call: ReadCall, request: ReadRequest, mode: { count: bigint; backwards: boolean }): Promise<void> {
    const { source } = request;
    const events =
      source.kind === 'stream'
        ? this.streamEvents(source.streamId, source.from, mode.backwards)
        : this.allEvents(source.from, mode.backwards);
    let stopped = false;
    const open = this.track(call, () => (stopped = true));
    if (source.kind === 'stream' && this.log.stream(source.streamId).length === 0) {
      call.write(streamNotFoundResponse(source.streamId));
    } else {
      let sent = 0n;
      for (const event of events) {
        if (sent >= mode.count) break;
        if (!request.filter.accepts(event)) continue;
        sent += 1n;
        if (!call.write(eventResponse(event, request.structuredUuids))) await drained(call);
        if (stopped || call.cancelled) return;
      }
    }
    this.open.delete(open);
    call.end();
  }

  /** A stream's events from `from` on; forwards up to those stored when the read starts. */
  private *streamEvents(streamId: string, from: StreamStart, backwards: boolean): Generator<StoredEvent> {
    const events = this.log.stream(streamId);
    const last = events.length - 1;
    if (backwards) {
      const first = from === 'end' || (from !== 'start' && from > BigInt(last)) ? last : from === 'start' ? 0 : Number(from);
      for (let index = first; index >= 0; index--) yield events[index] as StoredEvent;
      return;
    }
    const end = events.length;
    const first = from === 'start' ? 0 : from === 'end' || from > BigInt(last) ? end : Number(from);
    for (let index = first; index < end; index++) yield events[index] as StoredEvent;
  }

  /** $all from `from`: forwards from the event at that position on, backwards from the one before it. */
  private *allEvents(from: AllStart, backwards: boolean): Generator<StoredEvent> {
    const all = this.log.all;
    if (backwards) {
      const first = from === 'end' ? all.length - 1 : from === 'start' ? -1 : this.log.lastIndexBackwardsFrom(from);
      for (let index = first; index >= 0; index--) yield all[index] as StoredEvent;
      return;
    }
    const end = all.length;
    const first = from === 'start' ? 0 : from === 'end' ? end : this.log.indexAtOrAfter(from);
    for (let index = first; index < end; index++) yield all[index] as StoredEvent;
  }

  private track(call: ReadCall, stop: () => void): OpenRead {
    const open: OpenRead = { call, stop };
    this.open.add(open);
    call.on('cancelled', () => {
      this.open.delete(open);
      stop();
    });
    return open;
  }
}

/** Resolves when grpc-js's send buffer has room again, or the call is gone. */
function drained(call: ReadCall): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}
