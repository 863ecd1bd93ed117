import { LRUCache } from 'lru-cache';
import type { EventStore, RecordedEvent } from '../eventstore/contract.js';
import { categoryOf } from '../eventstore/filter.js';

/** The categories whose streams can concern a deal: the deal's own, its actions and agent runs. */
export const DEAL_CATEGORIES = ['deal', 'action', 'agent'] as const;

/**
 * Which events concern a deal: those of `deal-<id>`, and those of every stream whose first event
 * names the deal in its data (`ActionProposed` and `AgentRunStarted` carry `dealId`; the later
 * events of an action or a run do not, and an agent's own stream never does).
 *
 * A read that starts mid-log meets streams whose first event it never saw: it reads that one event
 * (once per stream; the answers are immutable facts, so a bounded cache of them is always right).
 */
export class DealStreams {
  private readonly ownStream: string;
  private readonly concernsDeal = new LRUCache<string, boolean>({ max: 10_000 });

  constructor(
    private readonly store: EventStore,
    private readonly dealId: string,
  ) {
    this.ownStream = `deal-${dealId}`;
  }

  async includes(event: RecordedEvent): Promise<boolean> {
    if (event.streamId === this.ownStream) return true;
    if (categoryOf(event.streamId) === 'deal') return false;
    let concerns = this.concernsDeal.get(event.streamId);
    if (concerns === undefined) {
      const first = event.revision === 0n ? event : await this.firstEvent(event.streamId);
      concerns = first?.data.dealId === this.dealId;
      this.concernsDeal.set(event.streamId, concerns);
    }
    return concerns;
  }

  private async firstEvent(streamId: string): Promise<RecordedEvent | undefined> {
    for await (const event of this.store.readStream(streamId, { maxCount: 1 })) return event;
    return undefined;
  }
}
