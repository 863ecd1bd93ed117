import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import type { EventToAppend, RecordedEvent } from '../../src/eventstore/contract.js';
import { comparePositions } from '../../src/eventstore/position.js';
import type { DeliveryView } from '../../src/integrations/webhooks/webhook-deliveries.js';
import type { SubscriptionView } from '../../src/integrations/webhooks/webhook-subscriptions.js';
import type { WorkerHost } from '../../src/workers/worker-host.js';
import { workersStatus } from '../../src/workers/worker-status.js';
import { deliveryJobOptions, wakeSubscriptions } from '../../src/integrations/webhooks/webhook-jobs.js';
import { jobOptions } from '../../src/workers/worker-host.js';
import { encodeCursor } from '../../src/queries/pagination.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { Receiver } from '../support/webhook-receiver.js';
import { dropTestPrefixes, eventsOf, startTestWorkers, testPrefix } from '../support/workers.js';

describe('integrations: webhook subscriptions and their delivery', function () {
  this.timeout(patient(60_000));
  const SCHEDULE = [50, 100, 200, 400, 800]; // a shortened retry schedule: the last attempt comes about 1.5 s after the first
  const ATTEMPTS = SCHEDULE.length + 1;
  let harness: TestApp;
  let host: WorkerHost;
  let keys: Record<string, string>;
  const receivers: Receiver[] = [];

  before(async () => {
    harness = await startTestApp();
    keys = await createKeys(harness.knex, { root: 'admin', hook: 'integration', ops: 'operator' });
    host = await startTestWorkers({ knex: harness.knex, store: harness.store, databaseUrl: harness.db.url, prefix: testPrefix() }, { settings: { webhookRetrySchedule: SCHEDULE } });
  });
  after(async () => {
    await host?.stop();
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await harness.close();
    await dropTestPrefixes();
  });

  const api = (who = 'hook') => {
    const auth = { authorization: `Bearer ${keys[who]}` };
    return {
      get: (path: string) => request(harness.app).get(`/api/integrations/webhooks${path}`).set(auth),
      post: (path: string, body: object = {}) => request(harness.app).post(`/api/integrations/webhooks${path}`).set(auth).send(body),
      delete: (path: string) => request(harness.app).delete(`/api/integrations/webhooks${path}`).set(auth),
    };
  };

  const receiver = async () => {
    const opened = await new Receiver().open();
    receivers.push(opened);
    return opened;
  };

  /** Subscribes `to` over HTTP; the receiver learns the secret from the answer, as an integration would. */
  const subscribe = async (to: Receiver, body: object): Promise<SubscriptionView & { secret: string }> => {
    const res = await api().post('', { url: to.url, ...body });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    to.secret = res.body.secret;
    return res.body;
  };

  const append = async (streamId: string, ...types: string[]): Promise<RecordedEvent[]> => {
    const before = (await eventsOf(harness.store, streamId)).length;
    await harness.store.append(streamId, types.map((type, n): EventToAppend => ({ type, data: { n, streamId } })), { expectedRevision: 'any' });
    return (await eventsOf(harness.store, streamId)).slice(before);
  };

  const ids = (events: readonly { id: string }[]) => events.map((event) => event.id);
  const byPosition = (events: RecordedEvent[]) => [...events].sort((a, b) => (a.position < b.position ? -1 : 1));
  const deliveries = async (id: string): Promise<DeliveryView[]> => (await api().get(`/${id}/deliveries?limit=200`).expect(200)).body.items;
  const subscription = async (id: string): Promise<SubscriptionView> => (await api().get(`/${id}`).expect(200)).body;
  const stream = (category: string) => `${category}-${randomUUID()}`;
  /** The receiver has an event before the worker records its delivery: wait for the position stored. */
  const storedPast = (id: string, event: RecordedEvent) =>
    eventually(async () => (await subscription(id)).position === event.position, 5000, 'the position stored');

  it('delivers every matching event and none other, in order, one at a time, as signed CloudEvents', async () => {
    const [deal, otherDeal, action] = [stream('deal'), stream('deal'), stream('action')];
    const to = await receiver();
    // Just before the subscription, which starts at the end of the log: on PostgreSQL that end lies
    // below the oldest transaction open in the cluster (another test's database counts), so this one
    // may be delivered too, first. Everything appended after the subscription is.
    const [before] = await append(deal, 'DealNoteAdded');
    const created = await subscribe(to, { filter: { streamIds: [deal, action], eventTypes: ['DealNoteAdded', 'ActionProposed'] } });

    const matching: RecordedEvent[] = [];
    for (let round = 0; round < 3; round++) {
      await append(deal, 'DealCreated'); // a type left out
      matching.push(...(await append(deal, 'DealNoteAdded', 'DealNoteAdded')));
      await append(otherDeal, 'DealNoteAdded'); // a stream left out
      matching.push(...(await append(action, 'ActionProposed')));
    }
    // More than one run takes (100 events): the next run goes on where it stopped.
    matching.push(...(await append(deal, ...Array<string>(150).fill('DealNoteAdded'))));
    const expected = byPosition(matching);
    expect(comparePositions(created.position!, expected[0]!.position), 'the subscription starts before what comes next').to.be.below(0);

    await eventually(() => ids(to.events).includes(expected.at(-1)!.id), 20_000, 'every matching event');
    expect(to.refused).to.deep.equal([]);
    const delivered = to.events[0]?.id === before!.id ? to.events.slice(1) : to.events;
    expect(ids(delivered)).to.deep.equal(ids(expected));
    expect(to.maxInFlight).to.equal(1);
    const [first] = expected;
    expect(delivered[0]).to.deep.equal({
      specversion: '1.0',
      id: first!.id,
      source: `/dealstream/${deal}`,
      type: 'dealstream.DealNoteAdded',
      subject: deal,
      time: first!.recordedAt.toISOString(),
      datacontenttype: 'application/json',
      data: first!.data,
      dealstreamposition: first!.position,
      dealstreamrevision: String(first!.revision),
      dealstreamschemaversion: 1, // appended without a version: it counts as 1
    });

    await storedPast(created.id, expected.at(-1)!);
    const state = await subscription(created.id);
    expect(state).to.deep.include({ state: 'active', failures: { consecutive: 0, deadLettered: 0 } });
    expect(state.lastDelivery).to.deep.include({ eventId: expected.at(-1)!.id, position: expected.at(-1)!.position, attempt: 1, status: 'delivered', httpStatus: 200, error: null });
    const status = await workersStatus(harness.knex, host.queues);
    expect(status.queues.map((queue) => queue.name)).to.include('webhooks');
  });

  it("delivers everything, in order, after the receiver's downtime (refused, then 503), the failed attempts in the history", async () => {
    const deal = stream('deal');
    const to = await receiver();
    const created = await subscribe(to, { filter: { streamIds: [deal] } });
    await to.close();
    const events = await append(deal, 'DealCreated', 'DealNoteAdded', 'DealStageChanged');

    // Open again before the schedule runs out (the fifth attempt comes about 0.7 s after the second):
    // the attempts are counted in their table, a quicker poll than the API's on a loaded machine.
    const attempts = async () => Number((await harness.knex('webhook_deliveries').where('subscription_id', created.id).count({ n: '*' }))[0]!.n);
    await eventually(async () => (await attempts()) >= 2, 10_000, 'two refused attempts');
    to.status = 503;
    await to.open();
    await eventually(() => to.requests >= 1, 10_000, 'an attempt answered 503');
    to.status = 200;

    await eventually(() => to.events.length >= 3, 10_000, 'every event');
    expect(ids(to.events)).to.deep.equal(ids(events));
    await storedPast(created.id, events[2]!);
    const history = (await deliveries(created.id)).reverse(); // oldest first
    const forFirst = history.filter((delivery) => delivery.eventId === events[0]!.id);
    expect(forFirst.map((delivery) => delivery.status)).to.deep.equal([...Array<string>(forFirst.length - 1).fill('failed'), 'delivered']);
    expect(forFirst.map((delivery) => delivery.attempt)).to.deep.equal(forFirst.map((_, index) => index + 1));
    expect(forFirst[0]).to.deep.include({ httpStatus: null, position: events[0]!.position });
    expect(forFirst[0]!.error, 'what happened, not where').to.equal('connection refused');
    expect(forFirst.at(-2)).to.deep.include({ httpStatus: 503, error: 'answered 503' });
    expect(history.slice(forFirst.length).map((delivery) => [delivery.eventId, delivery.status])).to.deep.equal([
      [events[1]!.id, 'delivered'],
      [events[2]!.id, 'delivered'],
    ]);
    expect((await subscription(created.id)).failures).to.deep.equal({ consecutive: 0, deadLettered: 0 });
  });

  it('suspends a subscription at the first event its schedule could not deliver, skipping nothing; resuming delivers from it, once each, in order', async () => {
    const deal = stream('deal');
    const to = await receiver();
    to.status = 503;
    const created = await subscribe(to, { filter: { streamIds: [deal] } });
    const events = await append(deal, 'DealCreated', 'DealNoteAdded', 'DealStageChanged');

    await eventually(async () => (await subscription(created.id)).state === 'failing', 20_000, 'the subscription failing');
    const failing = await subscription(created.id);
    expect(failing.position, 'nothing passed').to.equal(created.position);
    expect(failing.lastDelivery).to.deep.include({ eventId: events[0]!.id, attempt: ATTEMPTS, status: 'failed', httpStatus: 503 });
    const history = (await deliveries(created.id)).reverse();
    expect(history.map((delivery) => [delivery.eventId, delivery.attempt, delivery.status])).to.deep.equal(
      Array.from({ length: ATTEMPTS }, (_, index) => [events[0]!.id, index + 1, 'failed']),
    );
    // In the log, for admins and auditors; and in the list of failing subscriptions.
    const [suspended] = await eventsOf(harness.store, `webhook-${created.id}`);
    expect(suspended).to.deep.include({ type: 'WebhookDeliverySuspended' });
    expect(suspended!.data).to.deep.equal({ subscriptionId: created.id, eventId: events[0]!.id, position: events[0]!.position, attempts: ATTEMPTS, error: 'answered 503' });
    expect((await api('root').get('?state=failing').expect(200)).body.items.map((item: SubscriptionView) => item.id)).to.include(created.id);
    expect((await api().get('?state=active').expect(200)).body.items.map((item: SubscriptionView) => item.id)).to.not.include(created.id);

    // More events wait behind the one not delivered: the wake they cause does not move a failing subscription.
    events.push(...(await append(deal, 'DealNoteAdded')));
    to.status = 200;
    expect((await subscription(created.id)).state).to.equal('failing');

    const resumed = await api().post(`/${created.id}/resume`).expect(200);
    expect(resumed.body).to.deep.include({ state: 'active', failures: { consecutive: 0, deadLettered: 0 } });
    await eventually(() => to.events.length >= events.length, 10_000, 'every event after resuming');
    expect(ids(to.events)).to.deep.equal(ids(events));
    expect(to.refused).to.deep.equal([]);
    await storedPast(created.id, events.at(-1)!);
    const log = await eventsOf(harness.store, `webhook-${created.id}`);
    expect(log.map((event) => event.type)).to.deep.equal(['WebhookDeliverySuspended', 'WebhookDeliveryResumed']);
    expect(log[1]!.data).to.deep.equal({ subscriptionId: created.id, eventId: events[0]!.id });
    expect(log[1]!.metadata.actor).to.deep.equal({ kind: 'integration', id: 'hook' });
  });

  it('records a dead letter for a delivery run that fails on its last attempt, although such a job carries no event', async () => {
    await wakeSubscriptions(host.queues.webhooks, deliveryJobOptions(jobOptions(1, 50), [50]), ['not-a-subscription-id']);
    await eventually(async () => (await eventsOf(harness.store, `worker-${host.workerId}`)).some((event) => event.type === 'JobDeadLettered'), 20_000, 'the dead letter');
    const deadLetter = (await eventsOf(harness.store, `worker-${host.workerId}`)).find((event) => event.type === 'JobDeadLettered')!;
    expect(deadLetter.data).to.deep.include({ queue: 'webhooks', jobName: 'deliver-webhooks', attempts: 2, data: { subscriptionId: 'not-a-subscription-id' } });
    expect(deadLetter.data).to.not.have.property('eventId');
  });

  it('delivers nothing while paused and everything after resuming; nothing after deletion', async () => {
    const deal = stream('deal');
    const [paused, canary] = [await receiver(), await receiver()];
    const created = await subscribe(paused, { filter: { streamIds: [deal] } });
    await subscribe(canary, { filter: { streamIds: [deal] } });
    expect((await api().post(`/${created.id}/pause`).expect(200)).body.state).to.equal('paused');

    const events = await append(deal, 'DealCreated', 'DealNoteAdded');
    await eventually(() => canary.events.length === 2, 10_000, 'the canary served'); // the paused one would have been by now
    expect(paused.requests).to.equal(0);

    expect((await api().post(`/${created.id}/resume`).expect(200)).body.state).to.equal('active');
    await eventually(() => paused.events.length === 2, 10_000, 'the events after resuming');
    expect(ids(paused.events)).to.deep.equal(ids(events));

    await api().delete(`/${created.id}`).expect(204);
    await api().get(`/${created.id}`).expect(404);
    await append(deal, 'DealStageChanged');
    await eventually(() => canary.events.length === 3, 10_000, 'the canary served again');
    expect(paused.requests).to.equal(2);
  });

  it('replays from the position it is reset to (exclusive), and starts from a given position', async () => {
    const deal = stream('deal');
    const to = await receiver();
    const events = await append(deal, 'DealCreated', 'DealNoteAdded', 'DealNoteAdded', 'DealStageChanged');
    // From the first event: the three after it are delivered without any new event.
    const created = await subscribe(to, { filter: { streamIds: [deal] }, from: events[0]!.position });
    expect(created.position).to.equal(events[0]!.position);
    await eventually(() => to.events.length === 3, 10_000, 'the events after the given position');
    expect(ids(to.events)).to.deep.equal(ids(events.slice(1)));

    const reset = await api().post(`/${created.id}/reset`, { position: events[1]!.position }).expect(200);
    expect(reset.body.position).to.equal(events[1]!.position);
    await eventually(() => to.events.length === 5, 10_000, 'the replay');
    expect(ids(to.events.slice(3))).to.deep.equal(ids(events.slice(2)));

    await api().post(`/${created.id}/reset`, { position: 'start' }).expect(200);
    await eventually(() => to.events.length === 9, 10_000, 'the replay from the start');
    expect(ids(to.events.slice(5))).to.deep.equal(ids(events));
  });

  describe('over HTTP', () => {
    const url = 'https://integrations.example/hooks';
    /** Matches nothing: no delivery is tried to this url. */
    const quiet = { streamIds: [stream('deal')] };

    it('lets integration services and admins in; operators get 403, requests without a key 401', async () => {
      const created = await api('hook').post('', { url, filter: quiet }).expect(201);
      expect((await api('root').get(`/${created.body.id}`)).status).to.equal(200);
      expect((await api('root').get('')).status).to.equal(200);
      for (const res of [await api('ops').get(''), await api('ops').post('', { url }), await api('ops').post(`/${created.body.id}/pause`)]) {
        expect(res.status).to.equal(403);
        expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
      }
      expect((await request(harness.app).get('/api/integrations/webhooks')).status).to.equal(401);
    });

    it('shows a generated secret once, at creation, and never lists it', async () => {
      const filter = { categories: ['deal'], ...quiet };
      const created = await api().post('', { url, filter }).expect(201);
      expect(created.body.secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(created.headers.location).to.equal(`/api/integrations/webhooks/${created.body.id}`);
      expect(created.body).to.deep.include({ url, filter, state: 'active', lastDelivery: null, createdBy: 'hook' });
      const read = (await api().get(`/${created.body.id}`).expect(200)).body;
      expect(read).to.not.have.property('secret');
      const { secret: _, ...shown } = created.body;
      expect(read).to.deep.equal(shown);
      const given = `whsec_${Buffer.from('a secret of thirty-two bytes!!!!').toString('base64')}`;
      expect((await api().post('', { url, filter: quiet, secret: given }).expect(201)).body.secret).to.equal(given);
    });

    it('pages the list, oldest first, and the deliveries, newest first', async () => {
      const mine: string[] = [];
      for (let n = 0; n < 3; n++) mine.push((await api().post('', { url: `${url}/${n}`, filter: quiet }).expect(201)).body.id);
      const seen: string[] = [];
      for (let cursor: string | null = '', pages = 0; cursor !== null && pages < 100; pages++) {
        const page: { items: SubscriptionView[]; nextCursor: string | null } = (await api().get(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`).expect(200)).body;
        expect(page.items.length).to.be.at.most(2);
        for (const item of page.items) expect(item).to.not.have.property('secret');
        seen.push(...page.items.map((item) => item.id));
        cursor = page.nextCursor;
      }
      expect(new Set(seen).size).to.equal(seen.length);
      expect(seen.filter((id) => mine.includes(id))).to.deep.equal(mine);

      const deal = stream('deal');
      const to = await receiver();
      const created = await subscribe(to, { filter: { streamIds: [deal] } });
      const events = await append(deal, 'DealCreated', 'DealNoteAdded', 'DealStageChanged');
      await storedPast(created.id, events.at(-1)!); // the receiver has each event before its delivery is stored
      const first = (await api().get(`/${created.id}/deliveries?limit=2`).expect(200)).body;
      const second = (await api().get(`/${created.id}/deliveries?limit=2&cursor=${first.nextCursor}`).expect(200)).body;
      expect([...first.items, ...second.items].map((delivery: DeliveryView) => delivery.eventId)).to.deep.equal(ids(events).reverse());
      expect(second.nextCursor).to.equal(null);
      expect(first.items[0]).to.have.all.keys('eventId', 'position', 'attempt', 'status', 'httpStatus', 'error', 'durationMs', 'at');
    });

    it('answers 400 naming the field for a bad url, filter, position or secret', async () => {
      const fieldsOf = async (res: request.Test) => {
        const answer = await res;
        expect(answer.status, JSON.stringify(answer.body)).to.equal(400);
        expect(answer.headers['content-type']).to.match(/^application\/problem\+json/);
        return answer.body.errors.map((error: { field: string }) => error.field);
      };
      expect(await fieldsOf(api().post('', { url: 'ftp://files.example/x' }))).to.deep.equal(['url']);
      expect(await fieldsOf(api().post('', {}))).to.deep.equal(['url']);
      expect(await fieldsOf(api().post('', { url, filter: { categories: ['deals'] } }))).to.deep.equal(['filter.categories.0']);
      expect(await fieldsOf(api().post('', { url, filter: { eventTypes: [] } }))).to.deep.equal(['filter.eventTypes']);
      expect(await fieldsOf(api().post('', { url, filter: { eventTypes: ['DealCreated', 'NoSuchThing'] } }))).to.deep.equal(['filter.eventTypes.1']);
      expect(await fieldsOf(api().post('', { url, filter: { streamIds: ['nowhere'] } }))).to.deep.equal(['filter.streamIds.0']);
      expect(await fieldsOf(api().post('', { url, filter: { colour: ['red'] } }))).to.deep.equal(['filter.colour']);
      expect(await fieldsOf(api().post('', { url, from: 'yesterday' }))).to.deep.equal(['from']);
      expect(await fieldsOf(api().post('', { url, secret: 'whsec_c2hvcnQ=' }))).to.deep.equal(['secret']);
      const { id } = (await api().post('', { url, filter: quiet }).expect(201)).body;
      expect(await fieldsOf(api().post(`/${id}/reset`, { position: 'g'.repeat(32) }))).to.deep.equal(['position']);
      expect(await fieldsOf(api().post(`/${id}/reset`, {}))).to.deep.equal(['position']);
      expect(await fieldsOf(api().get('?limit=0'))).to.deep.equal(['limit']);
      // Forged cursors: not base64url JSON, or not the keys a page of that list ends with.
      expect(await fieldsOf(api().get(`/${id}/deliveries?cursor=forged`))).to.deep.equal(['cursor']);
      expect(await fieldsOf(api().get(`/${id}/deliveries?cursor=${encodeCursor(['1', 'x'])}`))).to.deep.equal(['cursor']);
      expect(await fieldsOf(api().get('?cursor=forged'))).to.deep.equal(['cursor']);
      expect(await fieldsOf(api().get(`?cursor=${encodeCursor(['1', '2'])}`))).to.deep.equal(['cursor']);
      expect(await fieldsOf(api().get('?state=dead-lettered'))).to.deep.equal(['state']);
    });

    it('answers a delivery dead-lettered before subscriptions were suspended as dead_lettered', async () => {
      const { id } = (await api().post('', { url, filter: quiet }).expect(201)).body;
      const [event] = await append(stream('deal'), 'DealCreated');
      // As an older version stored it (the stored value stays; the answer uses the one casing).
      await harness.knex('webhook_deliveries').insert({ subscription_id: id, event_id: event!.id, position: event!.position, attempt: 6, status: 'dead-lettered', http_status: 503, error: 'answered 503', duration_ms: 3 });
      const [delivery] = await deliveries(id);
      expect(delivery).to.deep.include({ eventId: event!.id, status: 'dead_lettered', attempt: 6 });
      expect((await subscription(id)).lastDelivery).to.deep.include({ status: 'dead_lettered' });
    });

    it('answers 404 for an unknown subscription', async () => {
      const unknown = randomUUID();
      for (const res of [
        await api().get(`/${unknown}`),
        await api().get(`/${unknown}/deliveries`),
        await api().post(`/${unknown}/pause`),
        await api().post(`/${unknown}/resume`),
        await api().post(`/${unknown}/reset`, { position: 'start' }),
        await api().delete(`/${unknown}`),
        await api().get('/not-a-uuid'),
      ]) {
        expect(res.status).to.equal(404);
        expect(res.body).to.deep.include({ type: '/problems/webhook-subscription-not-found', title: 'Webhook subscription not found', code: 'WEBHOOK.NOT_FOUND' });
        expect(res.body.detail).to.match(/^No webhook subscription /);
      }
    });
  });
});
