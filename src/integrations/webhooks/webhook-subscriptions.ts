import type { Knex } from 'knex';
import { z } from 'zod';
import type { EventFilter, Position, RecordedEvent } from '../../eventstore/contract.js';
import type { SecretBox } from '../../platform/secret-box.js';
import { iso, keysetPage, type Page } from '../../queries/pagination.js';
import { DeliveryView, deliveryView, type DeliveryAttempt, type DeliveryRow } from './webhook-deliveries.js';

/** Every change to a subscription is announced here (NOTIFY, sent on commit) with its id: the waker listens. */
export const SUBSCRIPTION_CHANGES = 'ds_webhook_subscriptions';

/** `failing`: an event used up the retry schedule; delivery waits at it until the owner resumes. */
export const SUBSCRIPTION_STATES = ['active', 'paused', 'failing'] as const;
export type SubscriptionState = (typeof SUBSCRIPTION_STATES)[number];

export interface NewSubscription {
  id: string;
  url: string;
  /** Sealed by the secret box: the database never holds it in plain text. */
  sealedSecret: string;
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

/** A filter as stored (JSON): the event store's EventFilter. */
const StoredFilter = z.object({ categories: z.array(z.string()).optional(), eventTypes: z.array(z.string()).optional(), streamIds: z.array(z.string()).optional() });

/** What the API shows of a subscription: everything but its secret. */
export const SubscriptionView = z.object({
  id: z.uuid(),
  url: z.string(),
  filter: StoredFilter.describe('The events it receives: lists combine with AND, each matches any of its entries'),
  state: z.enum(SUBSCRIPTION_STATES).describe('`failing`: an event used up the retry schedule; delivery waits at it until resumed'),
  position: z
    .string()
    .nullable()
    .describe('The last event delivered (or, before suspension existed, dead-lettered); null: none yet. While failing, the next event is the one not delivered'),
  lastDelivery: DeliveryView.nullable(),
  failures: z.object({ consecutive: z.number().int(), deadLettered: z.number().int() }),
  createdBy: z.string().describe('The principal id that created it'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type SubscriptionView = z.infer<typeof SubscriptionView>;

/** What a delivery run needs, its secret opened. */
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
      sealed_secret: subscription.sealedSecret,
      filter: subscription.filter,
      state: 'active',
      position: subscription.position,
      created_by: subscription.ownerId,
      owner_id: subscription.ownerId,
    });
    await announce(trx, subscription.id);
  });
}

export async function findSubscription(knex: Knex, id: string, visible: Visibility): Promise<z.input<typeof SubscriptionView> | undefined> {
  const row = await visibleTo(views(knex), visible, 's.').where('s.id', id).first();
  return row && subscriptionView(row);
}

/** Oldest first, by creation; only those in `state`, if given. */
export async function listSubscriptions(knex: Knex, page: { limit: number; cursor?: [string, string] }, visible: Visibility, state?: SubscriptionState): Promise<Page<z.input<typeof SubscriptionView>>> {
  const query = visibleTo(views(knex), visible, 's.');
  if (state) query.where('s.state', state);
  const rows = await keysetPage<SubscriptionRow>(query, {
    sort: 's.created_at',
    tiebreak: 's.id',
    direction: 'asc',
    limit: page.limit,
    keys: ['created_at', 'id'],
    ...(page.cursor ? { cursor: page.cursor } : {}),
  });
  return { items: rows.items.map(subscriptionView), nextCursor: rows.nextCursor };
}

/** Pauses, or resumes (from paused or failing, where it stopped, with the retry schedule afresh); false when there is no such subscription. */
export function setSubscriptionState(knex: Knex, id: string, visible: Visibility, state: 'active' | 'paused'): Promise<boolean> {
  return change(knex, id, visible, state === 'active' ? { state, consecutive_failures: 0 } : { state });
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

export async function subscriptionToDeliver(knex: Knex, box: SecretBox, id: string): Promise<SubscriptionToDeliver | undefined> {
  const row = await knex(TABLE).where({ id }).first('id', 'url', 'secret', 'sealed_secret', 'filter', 'state', 'position', 'generation');
  if (!row) return undefined;
  const { secret, sealed_secret: sealed, ...rest } = row as SubscriptionToDeliver & { sealed_secret: string | null; secret: string | null };
  // A row an older process wrote is sealed by the next start (sealPlaintextSecrets); until then its secret is plain.
  return { ...rest, secret: sealed ? box.decrypt(sealed) : secret! };
}

/**
 * Re-encrypts, under the box's current key, every secret sealed under an older one (and seals any
 * left in plain text), one row at a time: a rotation of SECRETS_KEY puts the new key first, runs
 * this, and then drops the old key. Returns how many it changed.
 */
export async function reencryptSecrets(knex: Knex, box: SecretBox): Promise<number> {
  let changed = await sealPlaintextSecrets(knex, box);
  const rows: { id: string; sealed_secret: string }[] = await knex(TABLE).whereNotNull('sealed_secret').select('id', 'sealed_secret');
  for (const row of rows.filter((each) => box.isStale(each.sealed_secret))) {
    changed += await knex(TABLE).where(row).update({ sealed_secret: box.encrypt(box.decrypt(row.sealed_secret)) });
  }
  return changed;
}

/** Seals every secret still in plain text (written before secrets were encrypted), and clears it; returns how many. */
export async function sealPlaintextSecrets(knex: Knex, box: SecretBox): Promise<number> {
  const rows: { id: string; secret: string }[] = await knex(TABLE).whereNotNull('secret').select('id', 'secret');
  for (const row of rows) await knex(TABLE).where({ id: row.id, secret: row.secret }).update({ sealed_secret: box.encrypt(row.secret), secret: null });
  return rows.length;
}

/** The active subscriptions and their filters, for the waker to match events against. */
export function activeSubscriptions(knex: Knex): Promise<{ id: string; filter: EventFilter }[]> {
  return knex(TABLE).where({ state: 'active' }).select('id', 'filter');
}

/**
 * Records an attempt at `event`, in one statement: delivered, it moves the subscription's position
 * past it; failed, it counts the failure and, with `suspend` (the retry schedule is spent), stops
 * the subscription there (state `failing`), never past it. Only while the subscription is where
 * the run read it (same generation and position, and delivering): after a reset, a pause, a
 * deletion or another run's progress nothing is stored and undefined comes back, and the run stops.
 * Otherwise the subscription's state comes back.
 */
export async function recordDelivery(
  knex: Knex,
  subscription: Pick<SubscriptionToDeliver, 'id' | 'generation' | 'position'>,
  event: RecordedEvent,
  delivery: DeliveryAttempt,
  suspend = false,
): Promise<SubscriptionState | undefined> {
  const passed = delivery.status === 'delivered';
  const { rows } = await knex.raw<{ rows: { state: SubscriptionState }[] }>(
    `WITH moved AS (
       UPDATE webhook_subscriptions
          SET position = CASE WHEN :passed THEN :eventPosition ELSE position END,
              consecutive_failures = CASE WHEN :passed THEN 0 ELSE consecutive_failures + 1 END,
              state = CASE WHEN :suspend THEN 'failing' ELSE state END,
              updated_at = CASE WHEN :suspend THEN now() ELSE updated_at END
        WHERE id = :id AND generation = :generation AND position IS NOT DISTINCT FROM :position AND state <> 'failing'
        RETURNING id, state
     ), recorded AS (
       INSERT INTO webhook_deliveries (subscription_id, event_id, position, attempt, status, http_status, error, duration_ms)
       SELECT id, :eventId, :eventPosition, :attempt, :status, :httpStatus, :error, :durationMs FROM moved
     )
     SELECT state FROM moved`,
    {
      passed,
      suspend,
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
  filter: z.infer<typeof StoredFilter>;
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

function subscriptionView(row: SubscriptionRow): z.input<typeof SubscriptionView> {
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
