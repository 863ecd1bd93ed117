import type {
  AllStreamRecordedEvent,
  AllStreamResolvedEvent,
  EventStoreDBClient,
  Position as EsdbPosition,
  ReadPosition,
} from '@eventstore/db-client';
import type { ServerFilter } from './filters.js';

/** What a subscription to `$all` reports, in the order the server sent it. */
export type ServerMessage =
  | { kind: 'event'; event: AllStreamRecordedEvent }
  /** Every event up to here has been considered: sent, or filtered out on the server. */
  | { kind: 'checkpoint'; position: EsdbPosition }
  /** Everything committed so far has been sent: the subscription is live. */
  | { kind: 'caughtUp' }
  /** Live events came faster than they were taken: the server catches up from the log again. */
  | { kind: 'fellBehind' };

type Marker = Exclude<ServerMessage, { kind: 'event' }>;

export interface OrderedSubscription {
  messages: AsyncIterable<ServerMessage>;
  /** Messages received but not yet taken: 0 means the next one has not arrived. */
  readonly buffered: number;
  /** Ends the subscription: `messages` stops (with an error) and the gRPC call is cancelled. */
  close(): void;
}

/** The server checkpoints every this many events it considers. */
const CHECKPOINT_EVERY = 1000;

/**
 * A subscription to `$all` whose events, checkpoints and switches to live come through one stream.
 * The client hands events through its stream but checkpoints to a callback and the switch to live
 * as an event; both happen while it handles the server's message, so pushing them into the stream
 * there puts them where they belong, and one `for await` reads all with the stream's back-pressure.
 */
export function subscribeInOrder(client: EventStoreDBClient, from: ReadPosition, filter: ServerFilter): OrderedSubscription {
  const subscription = client.subscribeToAll({
    fromPosition: from,
    filter: {
      ...filter,
      maxSearchWindow: CHECKPOINT_EVERY,
      checkpointInterval: 1,
      checkpointReached: (self, position) => void self.push({ kind: 'checkpoint', position } satisfies Marker),
    },
  });
  subscription.on('caughtUp', () => subscription.push({ kind: 'caughtUp' } satisfies Marker));
  subscription.on('fellBehind', () => subscription.push({ kind: 'fellBehind' } satisfies Marker));
  // The iterator reports errors while it reads; this keeps one arriving after it stopped from crashing the process.
  subscription.on('error', () => undefined);

  async function* messages(): AsyncGenerator<ServerMessage> {
    for await (const item of subscription as AsyncIterable<AllStreamResolvedEvent | Marker>) {
      if ('kind' in item) yield item;
      else if (item.event) yield { kind: 'event', event: item.event };
    }
  }

  return {
    messages: messages(),
    get buffered() {
      return subscription.readableLength;
    },
    close() {
      subscription.unsubscribe().catch(() => undefined);
      subscription.destroy();
    },
  };
}
