import { randomBytes, randomUUID } from 'node:crypto';
import { Router, type Response } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { isCheckpoint, type EventStore, type Position } from '../../eventstore/contract.js';
import { isAdmin, type Principal } from '../../auth/principal.js';
import { handleCommand } from '../../commands/handle-command.js';
import { webhookDecider } from '../../domain/webhooks/webhook.decider.js';
import { webhookStreamId } from '../../domain/webhooks/webhook.events.js';
import { requireRole } from '../../http/auth.js';
import { commandMetadata } from '../../http/command-route.js';
import type { DescribedRoute } from '../../http/openapi.js';
import { HttpProblem } from '../../http/problem.js';
import { InvalidInputError } from '../../eventstore/errors.js';
import type { OutboundGuard } from '../../platform/outbound-guard.js';
import type { SecretBox } from '../../platform/secret-box.js';
import { Limit, cursorOf, pageOf } from '../../queries/pagination.js';
import { LogPosition } from '../../queries/query-params.js';
import { visibleFilter } from '../event-filter-query.js';
import { EVENT_CATEGORIES, isCategory, isEventType, isStreamId } from '../event-types.js';
import { DeliveryView, listDeliveries } from './webhook-deliveries.js';
import {
  deleteSubscription,
  findSubscription,
  insertSubscription,
  listSubscriptions,
  resetSubscription,
  setSubscriptionState,
  SUBSCRIPTION_STATES,
  SubscriptionView,
  type Visibility,
} from './webhook-subscriptions.js';

const names = (accepts: (name: string) => boolean, message: string) =>
  z.array(z.string().max(200).refine(accepts, { message })).min(1, 'must name at least one (leave the list out to match any)').max(100);

/** The event store's filter, over what the domain defines (as the feed's): lists combine with AND, each matches any of its entries. */
const Filter = z.strictObject({
  categories: names(isCategory, `must be one of ${EVENT_CATEGORIES.join(', ')}`).optional(),
  eventTypes: names(isEventType, 'must be an event type (see /api/integrations/event-types)').optional(),
  streamIds: names(isStreamId, 'must be a stream id such as deal-<dealId>').optional(),
});

export const CreateWebhookBody = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).max(2000),
  filter: Filter.default({}),
  /** Exclusive. Default 'end': only events appended from now on (a few committed just before may come too). */
  from: LogPosition.default('end'),
  /** Standard Webhooks form; generated when absent. Shown only in the answer to the creation. */
  secret: z.string().refine(isWebhookSecret, { message: 'must be "whsec_" followed by the base64 of 24 to 64 random bytes' }).optional(),
});

const ResetWebhookBody = z.strictObject({ position: LogPosition });

const PAGE_CURSOR = 'A `nextCursor` from a previous page';
const ListQuery = z.strictObject({
  limit: Limit,
  cursor: cursorOf(z.tuple([z.iso.datetime(), z.uuid()])).optional().describe(PAGE_CURSOR),
  state: z.enum(SUBSCRIPTION_STATES).optional().describe('Only those in this state: `failing` lists those suspended at an event'),
});
const DeliveriesQuery = z.strictObject({ limit: Limit, cursor: cursorOf(z.tuple([z.string().regex(/^\d{1,19}$/), z.string().regex(/^\d{1,19}$/)])).optional().describe(PAGE_CURSOR) });

/** A subscription as its creation answers it: with its signing secret, this once. */
const CreatedSubscription = SubscriptionView.extend({ secret: z.string().describe('The signing secret (Standard Webhooks, `whsec_…`): shown only here') });
const Subscriptions = pageOf(SubscriptionView);
const Deliveries = pageOf(DeliveryView);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Webhook subscriptions under /api/integrations/webhooks, for integration services and admins:
 * create (the secret is answered once), list, read one with its delivery state, pause, resume,
 * reset to a position, delete, and each one's delivery history. Workers deliver (see
 * deliver-webhooks.worker.ts); every change here is announced to them on commit.
 */
const INTEGRATORS = ['integration', 'admin'];
/** As the problem handler titles EventStoreUnavailableError (see Outages). */
const STORE_UNREACHABLE = 'The event store cannot be reached';
const WEBHOOKS = '/integrations/webhooks';
/** For the OpenAPI document. */
export const WEBHOOKS_API: readonly DescribedRoute[] = [
  {
    method: 'post', path: WEBHOOKS, summary: 'Subscribe a URL to the events a filter matches; the answer holds the signing secret, once', roles: INTEGRATORS, body: CreateWebhookBody,
    success: { status: 201, description: 'Created', schema: CreatedSubscription }, unavailable: `${STORE_UNREACHABLE} (\`EVENT_STORE.UNAVAILABLE\`), or no signing secret can be kept (\`SECRETS.UNAVAILABLE\`)`,
  },
  { method: 'get', path: WEBHOOKS, summary: 'The subscriptions, oldest first, without their secrets; `state=failing` lists those suspended at an event', roles: INTEGRATORS, query: ListQuery, success: { schema: Subscriptions } },
  { method: 'get', path: `${WEBHOOKS}/:id`, summary: 'One subscription: state, position, last delivery, failures', roles: INTEGRATORS, success: { schema: SubscriptionView } },
  { method: 'post', path: `${WEBHOOKS}/:id/pause`, summary: 'Stop delivering until resumed', roles: INTEGRATORS, success: { schema: SubscriptionView } },
  {
    method: 'post', path: `${WEBHOOKS}/:id/resume`, summary: 'Deliver again, from where it stopped: a failing subscription starts with the event it could not deliver, with the retry schedule afresh',
    roles: INTEGRATORS, success: { schema: SubscriptionView },
    // Resuming a failing subscription appends to its stream, which a concurrent resume may contend for.
    problems: { 409: 'The subscription\'s stream kept changing (`STREAM.CONTENDED`): try again after Retry-After' },
  },
  { method: 'post', path: `${WEBHOOKS}/:id/reset`, summary: 'Deliver again from a position (exclusive)', roles: INTEGRATORS, body: ResetWebhookBody, success: { schema: SubscriptionView }, unavailable: `${STORE_UNREACHABLE} (\`EVENT_STORE.UNAVAILABLE\`)` },
  { method: 'delete', path: `${WEBHOOKS}/:id`, summary: 'End the subscription', roles: INTEGRATORS },
  { method: 'get', path: `${WEBHOOKS}/:id/deliveries`, summary: 'Delivery attempts, newest first', roles: INTEGRATORS, query: DeliveriesQuery, success: { schema: Deliveries } },
];

export function webhookRoutes({ knex, eventStore, box, outbound }: { knex: Knex; eventStore: EventStore; box?: SecretBox; outbound: OutboundGuard }): Router {
  const router = Router();
  router.use(requireRole('integration', 'admin'));
  router.param('id', (_req, _res, next, id: string) => next(UUID.test(id) ? undefined : notFound(id)));

  router.post('/', async (req, res) => {
    const body = CreateWebhookBody.parse(req.body ?? {});
    // Refused now when it can be told now; the guard checks again at each connection (DNS may change).
    const refusal = await outbound.vet(body.url);
    if (refusal) throw new InvalidInputError('url', refusal);
    const filter = visibleFilter(body.filter, res.locals.principal as Principal, { categories: 'filter.categories', eventTypes: 'filter.eventTypes', streamIds: 'filter.streamIds' });
    if (!box) throw new HttpProblem('SECRETS.UNAVAILABLE', 'This deployment has no SECRETS_KEY to encrypt signing secrets with');
    const id = randomUUID();
    const secret = body.secret ?? `whsec_${randomBytes(32).toString('base64')}`;
    const position = await startingPoint(eventStore, body.from, res);
    await insertSubscription(knex, { id, url: body.url, sealedSecret: box.encrypt(secret), filter, position, ownerId: (res.locals.principal as Principal).id });
    const created: z.input<typeof CreatedSubscription> = { ...(await found(knex, id, visibility(res))), secret };
    res.status(201).location(`${req.baseUrl}/${id}`).json(created);
  });

  router.get('/', async (req, res) => {
    const { state, ...page } = ListQuery.parse(req.query);
    const body: z.input<typeof Subscriptions> = await listSubscriptions(knex, page, visibility(res), state);
    res.json(body);
  });

  router.get('/:id', async (req, res) => {
    res.json(await found(knex, req.params.id, visibility(res)));
  });

  router.post('/:id/pause', async (req, res) => {
    if (!(await setSubscriptionState(knex, req.params.id, visibility(res), 'paused'))) throw notFound(req.params.id);
    res.json(await found(knex, req.params.id, visibility(res)));
  });

  router.post('/:id/resume', async (req, res) => {
    const subscription = await found(knex, req.params.id, visibility(res));
    // The log says who resumed a suspended delivery (the decider records nothing for one that was not).
    if (subscription.state === 'failing') {
      const command = { type: 'ResumeWebhookDelivery' as const, data: { subscriptionId: subscription.id }, metadata: commandMetadata(req, res.locals.principal as Principal) };
      await handleCommand(eventStore, webhookStreamId(subscription.id), webhookDecider, command);
    }
    if (!(await setSubscriptionState(knex, req.params.id, visibility(res), 'active'))) throw notFound(req.params.id);
    res.json(await found(knex, req.params.id, visibility(res)));
  });

  router.post('/:id/reset', async (req, res) => {
    const { position } = ResetWebhookBody.parse(req.body ?? {});
    await found(knex, req.params.id, visibility(res)); // 404 before the log is read for someone else's subscription
    if (!(await resetSubscription(knex, req.params.id, visibility(res), await startingPoint(eventStore, position, res)))) throw notFound(req.params.id);
    res.json(await found(knex, req.params.id, visibility(res)));
  });

  router.delete('/:id', async (req, res) => {
    if (!(await deleteSubscription(knex, req.params.id, visibility(res)))) throw notFound(req.params.id);
    res.status(204).end();
  });

  router.get('/:id/deliveries', async (req, res) => {
    const query = DeliveriesQuery.parse(req.query);
    await found(knex, req.params.id, visibility(res));
    const body: z.input<typeof Deliveries> = await listDeliveries(knex, req.params.id, query);
    res.json(body);
  });

  return router;
}

/** Integrations see their own subscriptions; admins every one. */
function visibility(res: Response): Visibility {
  const principal = res.locals.principal as Principal;
  return isAdmin(principal) ? 'all' : { ownerId: principal.id };
}

/** The subscription as every route but the creation answers it. */
async function found(knex: Knex, id: string, visible: Visibility): Promise<z.input<typeof SubscriptionView>> {
  const subscription = await findSubscription(knex, id, visible);
  if (!subscription) throw notFound(id);
  return subscription;
}

function notFound(id: string): HttpProblem {
  return new HttpProblem('WEBHOOK.NOT_FOUND', `No webhook subscription ${id}`);
}

/** The position a subscription starts after: null for the start of the log. */
async function startingPoint(eventStore: EventStore, from: string, res: Response): Promise<Position | null> {
  if (from === 'start') return null;
  return from === 'end' ? endOfLog(eventStore, res) : from;
}

/** Where the log ends now: the first checkpoint of a subscription from the end; a 503 when none comes. */
async function endOfLog(eventStore: EventStore, res: Response): Promise<Position> {
  for await (const message of eventStore.subscribe({ from: 'end', signal: AbortSignal.timeout(5000) })) {
    if (isCheckpoint(message)) return message.position;
  }
  // A problem carries no headers; the problem handler keeps those already set.
  res.set('Retry-After', '1');
  throw new HttpProblem('EVENT_STORE.UNAVAILABLE', 'Could not find the end of the log; try again');
}

/** As Standard Webhooks libraries expect it: `whsec_` and base64 of 24 to 64 bytes. */
function isWebhookSecret(secret: string): boolean {
  const [, base64] = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret) ?? [];
  const bytes = base64 ? Buffer.from(base64, 'base64').length : 0;
  return bytes >= 24 && bytes <= 64;
}
