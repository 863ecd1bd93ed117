import { expect } from 'chai';
import request from 'supertest';
import { principalStreamId } from '../../src/domain/principals/principal.events.js';
import { encodeCursor } from '../../src/queries/pagination.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { collect } from '../support/async.js';
import { payloadOf } from '../support/action-payloads.js';

describe('principals: the admin API, their history, and what each may touch', () => {
  let harness: TestApp;
  let keys: Record<string, string>;

  before(async () => {
    harness = await startTestApp();
    keys = await createKeys(harness.knex, { root: 'admin', ops: 'operator', hookA: 'integration', hookB: 'integration' });
  });
  after(() => harness.close());

  const as = (who: string) => ({ authorization: `Bearer ${keys[who]}` });
  const api = (who: string) => ({
    get: (path: string) => request(harness.app).get(`/api${path}`).set(as(who)),
    post: (path: string, body: object = {}) => request(harness.app).post(`/api${path}`).set(as(who)).send(body),
    delete: (path: string) => request(harness.app).delete(`/api${path}`).set(as(who)),
  });
  const history = async (principalId: string) => collect(harness.store.readStream(principalStreamId(principalId)));

  it('creates a principal and issues it keys; the key is shown once and every change is an event naming the admin', async () => {
    const created = await api('root').post('/principals', { id: 'alice', kind: 'user', name: 'Alice', roles: ['approver'] }).expect(201);
    expect(created.headers.location).to.equal('/api/principals/alice');
    expect(created.body).to.deep.include({ id: 'alice', kind: 'user', name: 'Alice', roles: ['approver'], disabledAt: null, keys: [] });

    const issued = await api('root').post('/principals/alice/keys', { name: 'laptop', expiresAt: '2099-01-01T00:00:00Z' }).expect(201);
    expect(issued.body).to.include({ name: 'laptop', expiresAt: '2099-01-01T00:00:00Z' });
    expect(issued.body.key).to.match(/^ds_/);
    expect(issued.headers['cache-control']).to.equal('no-store');
    const me = await request(harness.app).get('/api/me').set({ authorization: `Bearer ${issued.body.key}` }).expect(200);
    expect(me.body).to.deep.include({ id: 'alice', kind: 'user', roles: ['approver'], agentId: null, credential: { type: 'api_key', keyId: issued.body.id } });

    const shown = await api('root').get('/principals/alice').expect(200);
    expect(JSON.stringify(shown.body)).not.to.include(issued.body.key);
    expect(shown.body.keys).to.have.length(1);
    expect(shown.body.keys[0]).to.include({ id: issued.body.id, name: 'laptop', status: 'active' });
    expect(shown.body.keys[0].lastUsedAt).to.be.a('string');

    await api('root').post('/principals/alice/roles', { roles: ['approver', 'operator'] }).expect(200);
    await api('root').post(`/principals/alice/keys/${issued.body.id}/revoke`).expect(200);
    await request(harness.app).get('/api/me').set({ authorization: `Bearer ${issued.body.key}` }).expect(401);
    const disabled = await api('root').post('/principals/alice/disable', { reason: 'left the team' }).expect(200);
    expect(disabled.body.disabledAt).to.be.a('string');
    await api('root').post('/principals/alice/enable').expect(200);

    const events = await history('alice');
    expect(events.map((e) => e.type)).to.deep.equal(['PrincipalCreated', 'ApiKeyIssued', 'PrincipalRolesChanged', 'ApiKeyRevoked', 'PrincipalDisabled', 'PrincipalEnabled']);
    for (const event of events) expect(event.metadata.actor).to.deep.equal({ kind: 'user', id: 'root' });
    expect(JSON.stringify(events.map((e) => [e.data, e.metadata]))).not.to.include(issued.body.key);
    expect(events[1]!.data).to.deep.equal({ principalId: 'alice', keyId: issued.body.id, name: 'laptop', expiresAt: '2099-01-01T00:00:00Z' });
  });

  it('lists principals, pages them, and filters by kind', async () => {
    await api('root').post('/principals', { kind: 'integration', name: 'CRM sync', roles: ['integration'] }).expect(201);
    const page = await api('root').get('/principals?kind=integration&limit=1').expect(200);
    expect(page.body.items).to.have.length(1);
    expect(page.body.items[0].kind).to.equal('integration');
    const rest = await api('root').get(`/principals?kind=integration&cursor=${page.body.nextCursor}`).expect(200);
    expect([...page.body.items, ...rest.body.items].map((p: { id: string }) => p.id)).to.include.members(['hookA', 'hookB']);
    for (const forged of ['forged', encodeCursor(['hookA']), 'hookA']) {
      const refused = await api('root').get(`/principals?cursor=${forged}`).expect(400);
      expect(refused.body.errors).to.deep.equal([{ field: 'cursor', message: 'must be a nextCursor returned by a previous page' }]);
    }
  });

  it('answers bad input with 400 naming the field, unknown principals and keys with 404, non-admins with 403', async () => {
    const bad = await api('root').post('/principals', { kind: 'robot', name: '', roles: ['king'], id: '../x', extra: 1 }).expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).to.include.members(['kind', 'name', 'roles.0', 'id', 'extra']);
    const agentForUser = await api('root').post('/principals', { kind: 'user', name: 'X', roles: ['agent'], agentId: '00000000-0000-4000-8000-000000000000' }).expect(400);
    expect(agentForUser.body.errors[0].field).to.equal('agentId');
    await api('root').post('/principals/alice/keys', { name: 'k', expiresAt: 'tomorrow' }).expect(400);
    await api('root').post('/principals', { id: 'alice', kind: 'user', name: 'Again', roles: ['admin'] }).expect(409);
    const unknown = await api('root').get('/principals/nobody').expect(404);
    expect(unknown.body).to.deep.include({ title: 'Principal not found', code: 'PRINCIPAL.NOT_FOUND', detail: 'No principal nobody' });
    await api('root').post('/principals/nobody/disable').expect(404);
    await api('root').post('/principals/alice/keys/00000000-0000-4000-8000-000000000000/revoke').expect(404);
    await api('root').post('/principals/alice/keys/not-a-uuid/revoke').expect(404);
    await api('ops').get('/principals').expect(403);
    await api('ops').post('/principals', { kind: 'user', name: 'Mallory', roles: ['admin'] }).expect(403);
    await api('hookA').post('/principals/alice/keys', { name: 'mine' }).expect(403);
  });

  it('keeps an admin from locking themselves out', async () => {
    await api('root').post('/principals/root/disable').expect(409);
    await api('root').post('/principals/root/roles', { roles: ['operator'] }).expect(409);
  });

  it('four-eyes compares principals, not keys: a second key of the proposer cannot approve', async () => {
    const { body: operator } = await api('root').post('/principals', { id: 'olga', kind: 'user', name: 'Olga', roles: ['operator', 'approver'] }).expect(201);
    const first = (await api('root').post(`/principals/${operator.id}/keys`, { name: 'one' }).expect(201)).body.key;
    const second = (await api('root').post(`/principals/${operator.id}/keys`, { name: 'two' }).expect(201)).body.key;
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
    const deal = await request(harness.app).post('/api/deals').set(bearer(first)).send({ name: 'Big', company: 'Acme', amount: { amount: '900000', currency: 'USD' } }).expect(201);
    const dealId = deal.headers.location!.split('/').pop();
    const action = await request(harness.app).post('/api/actions').set(bearer(first)).send({ dealId, kind: 'share_data_room', title: 'Share it', payload: payloadOf('share_data_room') }).expect(201);
    const actionId = action.headers.location!.split('/').pop();
    const refused = await request(harness.app).post(`/api/actions/${actionId}/approve`).set(bearer(second)).send({}).expect(409);
    expect(refused.body.code).to.equal('ACTION.SELF_APPROVAL');
  });

  describe('ownership', () => {
    let agentX: string;
    let agentY: string;
    const usd = (amount: string) => ({ amount, currency: 'USD' });

    before(async () => {
      const register = async (name: string) =>
        (await api('root').post('/agents', { name, model: 'm', budget: usd('10') }).expect(201)).headers.location!.split('/').pop()!;
      [agentX, agentY] = [await register('X'), await register('Y')];
      for (const [who, agentId] of [['botX', agentX], ['botY', agentY]] as const) {
        await api('root').post('/principals', { id: who, kind: 'agent', name: who, roles: ['agent'], agentId }).expect(201);
        keys[who] = (await api('root').post(`/principals/${who}/keys`, { name: 'main' }).expect(201)).body.key;
      }
      await api('root').post('/principals', { id: 'loose', kind: 'agent', name: 'unbound', roles: ['agent'] }).expect(201);
      keys.loose = (await api('root').post('/principals/loose/keys', { name: 'main' }).expect(201)).body.key;
    });

    it("an agent runs only its own agent: another agent's runs are unknown to it, whatever it tries; admins may act on any", async () => {
      const runX = (await api('botX').post(`/agents/${agentX}/runs`, { goal: 'research' }).expect(201)).headers.location!.split('/').pop()!;
      const runPath = `/agents/${agentX}/runs/${runX}`;
      for (const who of ['botY', 'loose']) {
        for (const [path, body] of [
          [`/agents/${agentX}/runs`, { goal: 'hijack' }],
          [`${runPath}/tool-calls`, { tool: 'search', input: {} }],
          [`${runPath}/complete`, { summary: 'done', tokens: { input: 1, output: 1 }, cost: usd('10.00') }],
          [`${runPath}/fail`, { error: 'no', cost: usd('10.00') }],
        ] as const) {
          const res = await api(who).post(path, body).expect(404);
          expect(res.body.code, `${who} ${path}`).to.equal('AGENT.NOT_FOUND');
        }
      }
      const spent = await collect(harness.store.readStream(`agent-${agentX}`));
      expect(spent.map((e) => e.type)).to.deep.equal(['AgentRegistered']);
      await api('botX').post(`${runPath}/tool-calls`, { tool: 'search', input: {} }).expect(200);
      await api('root').post(`${runPath}/complete`, { summary: 'done by an admin', tokens: { input: 1, output: 1 }, cost: usd('0.10') }).expect(200);
      await api('botY').post(`/agents/${agentY}/runs`, { goal: 'mine' }).expect(201);
    });

    it("an agent's proposals are in its own name", async () => {
      const deal = await api('ops').post('/deals', { name: 'D', company: 'C', amount: usd('1000') }).expect(201);
      const dealId = deal.headers.location!.split('/').pop();
      const action = await api('botX').post('/actions', { dealId, kind: 'send_email', title: 'Hello', payload: payloadOf('send_email') }).expect(201);
      const [proposed] = await collect(harness.store.readStream(`action-${action.headers.location!.split('/').pop()}`));
      expect(proposed!.data.proposedBy).to.deep.equal({ kind: 'agent', id: 'botX' });
      expect(proposed!.metadata.actor).to.deep.equal({ kind: 'agent', id: 'botX' });
    });

    it("an integration sees and changes only its own webhook subscriptions (others answer 404); admins see all", async () => {
      const mine = await api('hookA').post('/integrations/webhooks', { url: 'http://127.0.0.1:9/hook?token=secret-a' }).expect(201);
      const theirs = await api('hookB').post('/integrations/webhooks', { url: 'http://127.0.0.1:9/hook?token=secret-b' }).expect(201);
      const id = theirs.body.id;
      const list = await api('hookA').get('/integrations/webhooks').expect(200);
      expect(list.body.items.map((s: { id: string }) => s.id)).to.deep.equal([mine.body.id]);
      expect(JSON.stringify(list.body)).not.to.include('secret-b');
      for (const [i, res] of [
        await api('hookA').get(`/integrations/webhooks/${id}`),
        await api('hookA').get(`/integrations/webhooks/${id}/deliveries`),
        await api('hookA').post(`/integrations/webhooks/${id}/pause`),
        await api('hookA').post(`/integrations/webhooks/${id}/resume`),
        await api('hookA').post(`/integrations/webhooks/${id}/reset`, { position: 'start' }),
        await api('hookA').delete(`/integrations/webhooks/${id}`),
      ].entries()) {
        expect(res.status, `request ${i}`).to.equal(404);
        expect(res.body.type).to.equal('/problems/webhook-subscription-not-found');
      }
      const untouched = await api('hookB').get(`/integrations/webhooks/${id}`).expect(200);
      expect(untouched.body.state).to.equal('active');
      const all = await api('root').get('/integrations/webhooks').expect(200);
      expect(all.body.items.map((s: { id: string }) => s.id)).to.include.members([mine.body.id, id]);
      await api('root').post(`/integrations/webhooks/${id}/pause`).expect(200);
      await api('root').delete(`/integrations/webhooks/${id}`).expect(204);
    });

    it("keeps principals' history from integrations: their feed and webhooks leave it out, and asking for it is a 400 naming the field", async () => {
      for (const [filter, field] of [
        [{ categories: ['principal'] }, 'filter.categories'],
        [{ eventTypes: ['ApiKeyIssued'] }, 'filter.eventTypes'],
        [{ streamIds: ['principal-root'] }, 'filter.streamIds'],
      ] as const) {
        const res = await api('hookA').post('/integrations/webhooks', { url: 'http://127.0.0.1:9/hook', filter }).expect(400);
        expect(res.body.errors[0].field).to.equal(field);
      }
      const feed = await api('hookA').get('/integrations/feed?category=deal,principal').expect(400);
      expect(feed.body.errors[0].field).to.equal('category');
      const everything = await api('hookA').post('/integrations/webhooks', { url: 'http://127.0.0.1:9/hook' }).expect(201);
      expect(everything.body.filter.categories).to.include('deal').and.not.include('principal').and.not.include('webhook');
      // How other integrations' webhooks fare is private too.
      const webhooks = await api('hookA').post('/integrations/webhooks', { url: 'http://127.0.0.1:9/hook', filter: { eventTypes: ['WebhookDeliverySuspended'] } }).expect(400);
      expect(webhooks.body.errors[0]).to.deep.equal({ field: 'filter.eventTypes', message: 'the webhook category is for admins and auditors' });
      const audited = await api('root').post('/integrations/webhooks', { url: 'http://127.0.0.1:9/hook', filter: { categories: ['principal'] } }).expect(201);
      expect(audited.body.filter).to.deep.equal({ categories: ['principal'] });
    });
  });
});
