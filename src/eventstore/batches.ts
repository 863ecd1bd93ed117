import { isCheckpoint, type Position, type RecordedEvent, type SubscriptionMessage } from './contract.js';

export interface EventBatch {
  events: RecordedEvent[];
  /** Everything up to here has been delivered (past filtered-out events too). */
  position: Position;
  /** The subscription has delivered everything committed so far. */
  caughtUp: boolean;
}

/**
 * Groups a subscription into batches: a checkpoint message ends one (live updates apply at once),
 * and catching up cuts one every `size` events.
 */
export async function* batches(messages: AsyncIterable<SubscriptionMessage>, size: number): AsyncGenerator<EventBatch> {
  let events: RecordedEvent[] = [];
  for await (const message of messages) {
    if (isCheckpoint(message)) {
      yield { events, position: message.position, caughtUp: message.caughtUp };
      events = [];
      continue;
    }
    events.push(message);
    if (events.length >= size) {
      yield { events, position: message.position, caughtUp: false };
      events = [];
    }
  }
}
