import { eventFilter, NO_FILTER, type EventFilter } from './event-filter.js';
import type { LogPosition } from './event-log.js';
import { streams, type ReadReq } from './protocol.js';
import { streamName } from './read-messages.js';

export type StreamStart = 'start' | 'end' | bigint;
export type AllStart = 'start' | 'end' | LogPosition;

/** A Streams.Read request in plain terms. */
export interface ReadRequest {
  source: { kind: 'stream'; streamId: string; from: StreamStart } | { kind: 'all'; from: AllStart };
  /** `count` for a read; `subscription` to catch up and then follow live. */
  mode: { kind: 'read'; count: bigint; backwards: boolean } | { kind: 'subscription' };
  filter: EventFilter;
  structuredUuids: boolean;
}

/** Thrown for what the server rejects as an invalid argument. */
export class InvalidReadRequest extends Error {}

export function parseReadRequest(request: ReadReq): ReadRequest {
  const options = request.getOptions();
  if (!options) throw new InvalidReadRequest('ReadReq without options');
  const { StreamOptionCase, CountOptionCase, FilterOptionCase, ReadDirection, UUIDOption } = streams.ReadReq.Options;
  const backwards = options.getReadDirection() === ReadDirection.BACKWARDS;
  const subscription = options.getCountOptionCase() === CountOptionCase.SUBSCRIPTION;
  if (subscription && backwards) throw new InvalidReadRequest('Subscriptions read forwards only');
  const filterOptions = options.getFilterOptionCase() === FilterOptionCase.FILTER ? options.getFilter() : undefined;
  const source = readSource(options, options.getStreamOptionCase() === StreamOptionCase.ALL);
  if (filterOptions && source.kind === 'stream') throw new InvalidReadRequest('Only $all reads take a filter');
  return {
    source,
    mode: subscription ? { kind: 'subscription' } : { kind: 'read', count: BigInt(options.getCount()), backwards },
    filter: filterOptions ? filterOf(filterOptions) : NO_FILTER,
    structuredUuids: options.getUuidOption()?.getContentCase() !== UUIDOption.ContentCase.STRING,
  };
}

function readSource(options: ReadReq.Options, fromAll: boolean): ReadRequest['source'] {
  if (fromAll) {
    const all = options.getAll();
    if (!all) throw new InvalidReadRequest('ReadReq for $all without its options');
    const { AllOptionCase } = streams.ReadReq.Options.AllOptions;
    const position = all.getPosition();
    switch (all.getAllOptionCase()) {
      case AllOptionCase.START:
        return { kind: 'all', from: 'start' };
      case AllOptionCase.END:
        return { kind: 'all', from: 'end' };
      default:
        if (!position) throw new InvalidReadRequest('ReadReq for $all without a start');
        return { kind: 'all', from: { commit: BigInt(position.getCommitPosition()), prepare: BigInt(position.getPreparePosition()) } };
    }
  }
  const stream = options.getStream();
  const streamId = streamName(stream?.getStreamIdentifier());
  if (!stream || streamId === undefined) throw new InvalidReadRequest('ReadReq without a stream');
  const { RevisionOptionCase } = streams.ReadReq.Options.StreamOptions;
  switch (stream.getRevisionOptionCase()) {
    case RevisionOptionCase.START:
      return { kind: 'stream', streamId, from: 'start' };
    case RevisionOptionCase.END:
      return { kind: 'stream', streamId, from: 'end' };
    default:
      return { kind: 'stream', streamId, from: BigInt(stream.getRevision()) };
  }
}

function filterOf(options: ReadReq.Options.FilterOptions): EventFilter {
  try {
    return eventFilter(options);
  } catch (error) {
    throw new InvalidReadRequest((error as Error).message);
  }
}
