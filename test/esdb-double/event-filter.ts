import type { StoredEvent } from './event-log.js';
import { streams, type ReadReq } from './protocol.js';

type FilterOptions = ReadReq.Options.FilterOptions;

/** The server's page size, and so the search window of a filter that names none. */
const READ_BATCH_SIZE = 32;

export interface EventFilter {
  accepts(event: StoredEvent): boolean;
  /**
   * A filtered subscription checkpoints after this many events considered (matching or not);
   * without a filter it does not checkpoint at all.
   */
  checkpointInterval: number | undefined;
}

export const NO_FILTER: EventFilter = { accepts: () => true, checkpointInterval: undefined };

/**
 * A server-side filter on $all: on stream names or on event types, by regex when one is given and
 * by prefixes otherwise (as the server chooses). The checkpoint interval is the multiplier times
 * the search window, 32 unless the reader set a maximum.
 */
export function eventFilter(options: FilterOptions): EventFilter {
  const { FilterCase, WindowCase } = streams.ReadReq.Options.FilterOptions;
  const onStreams = options.getFilterCase() === FilterCase.STREAM_IDENTIFIER;
  const expression = onStreams ? options.getStreamIdentifier() : options.getEventType();
  if (!expression) throw new Error('The filter names neither stream identifiers nor event types');
  const matches = textMatcher(expression);
  const multiplier = options.getCheckpointintervalmultiplier();
  if (multiplier === 0) throw new Error('The checkpoint interval multiplier must be positive');
  const window = options.getWindowCase() === WindowCase.MAX && options.getMax() > 0 ? options.getMax() : READ_BATCH_SIZE;
  return {
    accepts: (event) => matches(onStreams ? event.streamId : event.type),
    checkpointInterval: multiplier * window,
  };
}

function textMatcher(expression: ReadReq.Options.FilterOptions.Expression): (text: string) => boolean {
  const regex = expression.getRegex();
  if (regex !== '') {
    const pattern = new RegExp(regex);
    return (text) => pattern.test(text);
  }
  const prefixes = expression.getPrefixList();
  return (text) => prefixes.some((prefix) => text.startsWith(prefix));
}
