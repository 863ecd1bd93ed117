import { LRUCache } from 'lru-cache';
import { upcast } from '../domain/upcasters.js';
import type { EventStore, RecordedEvent } from '../eventstore/contract.js';
import { categoryOf } from '../eventstore/filter.js';

/** The categories whose streams can concern a deal: the deal's own, its actions and agent runs. */
export const DEAL_CATEGORIES = ['deal', 'action', 'agent'] as const;

/**
 * Which events concern a deal: those of `deal-<id>`, and those of every stream whose first event
 * names the deal in its data (`ActionProposed` and `AgentRunStarted` carry `dealId`; the later
 * events of an action or a run do not, and an agent's own stream never does).
 *
 * A read that starts mid-log meets streams whose first event it never saw: it reads that one event,
 * once per stream and store. Which deal a stream's first event names never changes, so the answers
 * are kept across requests (bounded): a deal paged through the log reads each stream once, not once
 * per page.
 */
const dealsOfStreams = new WeakMap<EventStore, LRUCache<string, string | 0>>();

export class DealStreams {
  private readonly ownStream: string;
  private readonly dealOfStream: LRUCache<string, string | 0>;

  constructor(
    private readonly store: EventStore,
    private readonly dealId: string,
  ) {
    this.ownStream = `deal-${dealId}`;
    let known = dealsOfStreams.get(store);
    if (!known) dealsOfStreams.set(store, (known = new LRUCache({ max: 100_000 })));
    this.dealOfStream = known;
  }

  async includes(event: RecordedEvent): Promise<boolean> {
    if (event.streamId === this.ownStream) return true;
    if (categoryOf(event.streamId) === 'deal') return false;
    let dealId = this.dealOfStream.get(event.streamId);
    if (dealId === undefined) {
      const first = event.revision === 0n ? event : await this.firstEvent(event.streamId);
      const named = first && upcast(first).data.dealId;
      dealId = typeof named === 'string' ? named : 0; // 0: names no deal (lru-cache keeps no undefined)
      this.dealOfStream.set(event.streamId, dealId);
    }
    return dealId === this.dealId;
  }

  private async firstEvent(streamId: string): Promise<RecordedEvent | undefined> {
    for await (const event of this.store.readStream(streamId, { maxCount: 1 })) return event;
    return undefined;
  }
}
