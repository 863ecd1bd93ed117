import type { Knex } from 'knex';
import type { EventFilter, Position, RecordedEvent } from '../../eventstore/contract.js';
import { iso, keysetPage, type Page } from '../../queries/pagination.js';
import { deliveryView, type DeliveryAttempt, type DeliveryRow, type DeliveryView } from './webhook-deliveries.js';

/** Every change to a subscription is announced here (NOTIFY, sent on commit) with its id: the waker listens. */
export const SUBSCRIPTION_CHANGES = 'ds_webhook_subscriptions';

export type SubscriptionState = 'active' | 'paused';

export interface NewSubscription {
  id: string;
  url: string;
  secret: string;
  filter: EventFilter;
  /** Exclusive, like every `from`; null: from the first event. */
  position: Position | null;
  /** The principal that owns it: only it (and admins) see and change it. */
  ownerId: string;
}

/**
 * Whose subscriptions a caller may see and change: one owner's, or (for admins) every one. Others
 * are answered as if they did not exist, so their ids do not leak.
 */
export type Visibility = { ownerId: string } | 'all';

/** What the API shows of a subscription: everything but its secret. */
export interface SubscriptionView {
  id: string;
  url: string;
  filter: EventFilter;
  state: SubscriptionState;
  /** The last event delivered or dead-lettered; null: none yet. */
  position: Position | null;
  lastDelivery: DeliveryView | null;
  failures: { consecutive: number; deadLettered: number };
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** What a delivery run needs. */
export interface SubscriptionToDeliver {
  id: string;
  url: string;
  secret: string;
  filter: EventFilter;
  state: SubscriptionState;
  position: Position | null;
  generation: number;
}

const TABLE = 'webhook_subscriptions';

export async function insertSubscription(knex: Knex, subscription: NewSubscription): Promise<void> {
  await knex.transaction(async (trx) => {
    await trx(TABLE).insert({
      id: subscription.id,
      url: subscription.url,
      secret: subscription.secret,
      filter: subscription.filter,
      state: 'active',
      position: subscription.position,
      created_by: subscription.ownerId,
      owner_id: subscription.ownerId,
    });
    await announce(trx, subscription.id);
  });
}

export async function findSubscription(knex: Knex, id: string, visible: Visibility): Promise<SubscriptionView | undefined> {
  const row = await visibleTo(views(knex), visible, 's.').where('s.id', id).first();
  return row && subscriptionView(row);
}

/** Oldest first, by creation. */
export async function listSubscriptions(knex: Knex, page: { limit: number; cursor?: [string, string] }, visible: Visibility): Promise<Page<SubscriptionView>> {
  const rows = await keysetPage<SubscriptionRow>(visibleTo(views(knex), visible, 's.'), {
    sort: 's.created_at',
    tiebreak: 's.id',
    direction: 'asc',
    limit: page.limit,
    keys: ['created_at', 'id'],
    ...(page.cursor ? { cursor: page.cursor } : {}),
  });
  return { items: rows.items.map(subscriptionView), nextCursor: rows.nextCursor };
}

/** Pauses or resumes; false when there is no such subscription. */
export function setSubscriptionState(knex: Knex, id: string, visible: Visibility, state: SubscriptionState): Promise<boolean> {
  return change(knex, id, visible, { state });
}

/** Moves the subscription to `position` (exclusive; null: the start): delivery goes on from there. */
export function resetSubscription(knex: Knex, id: string, visible: Visibility, position: Position | null): Promise<boolean> {
  return change(knex, id, visible, { position, generation: knex.raw('generation + 1'), consecutive_failures: 0 });
}

export async function deleteSubscription(knex: Knex, id: string, visible: Visibility): Promise<boolean> {
  return knex.transaction(async (trx) => {
    const deleted = await visibleTo(trx(TABLE), visible).where({ id }).delete();
    if (deleted > 0) await announce(trx, id);
    return deleted > 0;
  });
}

export async function subscriptionToDeliver(knex: Knex, id: string): Promise<SubscriptionToDeliver | undefined> {
  return knex(TABLE).where({ id }).first('id', 'url', 'secret', 'filter', 'state', 'position', 'generation');
}

/** The active subscriptions and their filters, for the waker to match events against. */
export function activeSubscriptions(knex: Knex): Promise<{ id: string; filter: EventFilter }[]> {
  return knex(TABLE).where({ state: 'active' }).select('id', 'filter');
}

/**
 * Records an attempt at `event` and, once it is delivered or dead-lettered, moves the subscription's
 * position past it, in one statement. Only while the subscription is where the run read it (same
 * generation and position): after a reset, a deletion or another run's progress nothing is stored
 * and undefined comes back, and the run stops. Otherwise the subscription's state comes back.
 */
export async function recordDelivery(
  knex: Knex,
  subscription: Pick<SubscriptionToDeliver, 'id' | 'generation' | 'position'>,
  event: RecordedEvent,
  delivery: DeliveryAttempt,
): Promise<SubscriptionState | undefined> {
  const passed = delivery.status !== 'failed';
  const { rows } = await knex.raw<{ rows: { state: SubscriptionState }[] }>(
    `WITH moved AS (
       UPDATE webhook_subscriptions
          SET position = CASE WHEN :passed THEN :eventPosition ELSE position END,
              consecutive_failures = CASE WHEN :passed THEN 0 ELSE consecutive_failures + 1 END,
              dead_lettered = dead_lettered + CASE WHEN :deadLettered THEN 1 ELSE 0 END
        WHERE id = :id AND generation = :generation AND position IS NOT DISTINCT FROM :position
        RETURNING id, state
     ), recorded AS (
       INSERT INTO webhook_deliveries (subscription_id, event_id, position, attempt, status, http_status, error, duration_ms)
       SELECT id, :eventId, :eventPosition, :attempt, :status, :httpStatus, :error, :durationMs FROM moved
     )
     SELECT state FROM moved`,
    {
      passed,
      deadLettered: delivery.status === 'dead-lettered',
      id: subscription.id,
      generation: subscription.generation,
      position: subscription.position,
      eventId: event.id,
      eventPosition: event.position,
      attempt: delivery.attempt,
      status: delivery.status,
      httpStatus: delivery.httpStatus,
      error: delivery.error,
      durationMs: delivery.durationMs,
    },
  );
  return rows[0]?.state;
}

async function change(knex: Knex, id: string, visible: Visibility, values: Record<string, unknown>): Promise<boolean> {
  return knex.transaction(async (trx) => {
    const updated = await visibleTo(trx(TABLE), visible).where({ id }).update({ ...values, updated_at: trx.fn.now() });
    if (updated > 0) await announce(trx, id);
    return updated > 0;
  });
}

function visibleTo(query: Knex.QueryBuilder, visible: Visibility, alias = ''): Knex.QueryBuilder {
  return visible === 'all' ? query : query.where(`${alias}owner_id`, visible.ownerId);
}

function announce(trx: Knex.Transaction, id: string) {
  return trx.raw('SELECT pg_notify(?, ?)', [SUBSCRIPTION_CHANGES, id]);
}

interface SubscriptionRow extends Record<string, unknown> {
  id: string;
  url: string;
  filter: EventFilter;
  state: SubscriptionState;
  position: Position | null;
  consecutive_failures: number;
  dead_lettered: string;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  last_delivery: DeliveryRow | null;
}

/** The subscriptions with their latest delivery. */
function views(knex: Knex): Knex.QueryBuilder {
  return knex(`${TABLE} as s`)
    .joinRaw('LEFT JOIN LATERAL (SELECT * FROM webhook_deliveries d WHERE d.subscription_id = s.id ORDER BY d.id DESC LIMIT 1) last ON true')
    .select('s.id', 's.url', 's.filter', 's.state', 's.position', 's.consecutive_failures', 's.dead_lettered', 's.created_by', 's.created_at', 's.updated_at')
    .select(knex.raw('row_to_json(last) AS last_delivery'));
}

function subscriptionView(row: SubscriptionRow): SubscriptionView {
  return {
    id: row.id,
    url: row.url,
    filter: row.filter,
    state: row.state,
    position: row.position,
    lastDelivery: row.last_delivery && deliveryView(row.last_delivery),
    failures: { consecutive: row.consecutive_failures, deadLettered: Number(row.dead_lettered) },
    createdBy: row.created_by,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}
