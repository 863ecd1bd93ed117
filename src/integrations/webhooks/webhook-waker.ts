import pg from 'pg';
import type { Knex } from 'knex';
import { batches } from '../../eventstore/batches.js';
import type { EventFilter, EventStore } from '../../eventstore/contract.js';
import { matchesFilter } from '../../eventstore/filter.js';
import type { Logger } from '../../platform/logger.js';
import { runExclusively } from '../../workers/relay.js';
import { SUBSCRIPTION_CHANGES, activeSubscriptions } from './webhook-subscriptions.js';

/** Its lock is the relay lock of this name: one process wakes, the others stand by. */
export const WEBHOOK_WAKER = 'webhooks';

export interface WebhookWakerDependencies {
  knex: Knex;
  eventStore: EventStore;
  logger: Logger;
  /** For the advisory lock's and the LISTEN's own connections. */
  databaseUrl: string;
  wake: (subscriptionIds: readonly string[]) => Promise<void>;
}

/**
 * Asks for delivery runs when there is something to deliver: once per batch of new events for each
 * active subscription whose filter matches one of them, and for a subscription created, resumed or
 * reset (announced by NOTIFY). It stores nothing: each run reads after its subscription's own
 * position, so on taking over it wakes every active subscription and follows the log from its end.
 */
export function runWebhookWaker(deps: WebhookWakerDependencies, signal: AbortSignal): Promise<void> {
  return runExclusively(deps, WEBHOOK_WAKER, (working) => wakeWhileFollowing(deps, working), signal);
}

async function wakeWhileFollowing(deps: WebhookWakerDependencies, signal: AbortSignal): Promise<void> {
  const listener = new pg.Client({ connectionString: deps.databaseUrl, application_name: 'dealstream-webhook-waker' });
  // Changes announced while nobody listens are missed: a lost connection ends the run, and the next wakes everything.
  const lost = new AbortController();
  listener.on('error', (error) => lost.abort(error));
  listener.on('end', () => lost.abort(new Error('the LISTEN connection ended')));
  const working = AbortSignal.any([signal, lost.signal]);

  /** Undefined until the first batch, which wakes every active subscription. */
  let subscriptions: { id: string; filter: EventFilter }[] | undefined;
  // Batches and announcements take turns, so a list read earlier never replaces one read later.
  let turn = Promise.resolve();
  const inTurn = (step: () => Promise<void>) => (turn = turn.then(step));
  const changed = (id: string) =>
    inTurn(async () => {
      if (!subscriptions) return;
      subscriptions = await activeSubscriptions(deps.knex);
      if (subscriptions.some((subscription) => subscription.id === id)) await deps.wake([id]);
    }).catch((error: unknown) => lost.abort(error));

  try {
    await listener.connect();
    listener.on('notification', (message) => void changed(message.payload ?? ''));
    await listener.query(`LISTEN ${SUBSCRIPTION_CHANGES}`);
    for await (const batch of batches(deps.eventStore.subscribe({ from: 'end', signal: working }), 1000)) {
      await inTurn(async () => {
        if (!subscriptions) {
          subscriptions = await activeSubscriptions(deps.knex);
          return deps.wake(subscriptions.map((subscription) => subscription.id));
        }
        const due = subscriptions.filter((subscription) => batch.events.some((event) => matchesFilter(event, subscription.filter)));
        if (due.length > 0) await deps.wake(due.map((subscription) => subscription.id));
      });
    }
    if (lost.signal.aborted && !signal.aborted) throw lost.signal.reason;
  } finally {
    await listener.end().catch(() => undefined);
  }
}
