import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import type { EventStore } from '../../src/eventstore/contract.js';
import { collect, patient } from '../support/async.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { logSettled } from '../support/event-store.js';
import { bindAgent, createApiKey } from '../support/principals.js';

/** Each kind of input that once reached deep code and answered 500 (issue 14), now a 400 naming its field. */
describe('hostile input', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let app: Express;
  let store: EventStore;
  const keys: Record<string, string> = {};
  let dealId: string;
  let agentId: string;
  let runId: string;

  before(async () => {
    harness = await startTestApp();
    ({ app, store } = harness);
    for (const [name, role] of [['ops', 'operator'], ['root', 'admin'], ['audit', 'auditor'], ['scout', 'agent'], ['int', 'integration']] as const) {
      keys[name] = (await createApiKey(harness.knex, name, role)).key;
    }
    dealId = idOf((await request(app).post('/api/deals').set(as('ops')).send({ name: 'Acme', company: 'Acme Ltd', amount: { amount: '10.00', currency: 'USD' } }).expect(201)).headers.location!);
    agentId = idOf((await request(app).post('/api/agents').set(as('root')).send({ name: 'Scout', model: 'm' }).expect(201)).headers.location!);
    await bindAgent(harness.knex, 'scout', agentId);
    runId = idOf((await request(app).post(`/api/agents/${agentId}/runs`).set(as('scout')).send({ goal: 'Research' }).expect(201)).headers.location!);
    await logSettled(harness.knex); // the log is counted before and after each refusal
  });
  after(() => harness.close());

  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  const idOf = (location: string) => location.split('/').pop()!;
  const json = (text: string) => ({ 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  const eventCount = async () => (await collect(store.readAll({ from: 'start' }))).length;

  /** A 400 problem naming `field` (or a place inside it); and nothing was appended. */
  async function refused(send: () => request.Test, field: string): Promise<void> {
    // What earlier tests appended counts only once every transaction open in the cluster has ended.
    await logSettled(harness.knex);
    const before = await eventCount();
    const res = await send();
    expect(res.status, JSON.stringify(res.body)).to.equal(400);
    expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
    const fields = (res.body.errors as { field: string }[]).map((error) => error.field);
    expect(fields.some((named) => named === field || named.startsWith(`${field}.`) || named.startsWith(`${field}[`)), fields.join()).to.equal(true);
    expect(await eventCount()).to.equal(before);
  }

  describe('a lone surrogate', () => {
    for (const [what, text] of [['high', '\\ud800'], ['low', '\\udfff'], ['reversed pair', '\\udc00\\ud800']]) {
      it(`in a string field (${what}) is refused: 400 naming the field`, async () => {
        const body = `{"text":"note ${text}"}`;
        await refused(() => request(app).post(`/api/deals/${dealId}/notes`).set(as('ops')).set(json(body)).send(body), 'text');
      });
    }

    it('deep in free-form JSON, and in a key, names where it sits', async () => {
      const body = `{"tool":"search","input":{"q":["ok","\\ud83d"]}}`;
      await refused(() => request(app).post(`/api/agents/${agentId}/runs/${runId}/tool-calls`).set(as('scout')).set(json(body)).send(body), 'input.q[1]');
      const key = `{"tool":"search","input":{"\\ud800":1}}`;
      await refused(() => request(app).post(`/api/agents/${agentId}/runs/${runId}/tool-calls`).set(as('scout')).set(json(key)).send(key), 'input');
    });

    it('is taken when paired: an emoji is text like any other', async () => {
      await request(app).post(`/api/deals/${dealId}/notes`).set(as('ops')).send({ text: 'done \u{1F680}' }).expect(200);
    });
  });

  describe('a NUL byte', () => {
    for (const path of ['/api/deals/%00', '/api/actions/a%00b', '/api/agents/%00', `/api/agents/x/runs/%00`, '/api/audit/streams/deal-%00/events', '/api/audit/streams/deal-%00/verify']) {
      it(`in a path id is refused: GET ${path}`, async () => {
        await refused(() => request(app).get(path).set(as(path.startsWith('/api/audit') ? 'audit' : 'ops')), 'path');
      });
    }

    for (const [path, parameter] of [['/api/deals', 'owner'], ['/api/deals', 'q'], ['/api/deals', 'tag'], ['/api/actions', 'proposedBy'], ['/api/actions', 'kind'], ['/api/actions', 'agentId']] as const) {
      it(`in a query parameter is refused: ${path}?${parameter}=`, async () => {
        await refused(() => request(app).get(`${path}?${parameter}=a%00b`).set(as('ops')), parameter);
      });
    }

    it('inside a forged page cursor is refused, naming cursor', async () => {
      const forged = Buffer.from(JSON.stringify(['0', '\u0000'])).toString('base64url');
      await refused(() => request(app).get('/api/agents').query({ cursor: forged }).set(as('ops')), 'cursor');
      await refused(() => request(app).get('/api/principals').query({ cursor: forged }).set(as('root')), 'cursor');
    });

    it('in a body field is refused', async () => {
      await refused(() => request(app).post(`/api/deals/${dealId}/notes`).set(as('ops')).send({ text: 'a\u0000b' }), 'text');
    });
  });

  describe('numbers and rules', () => {
    it('a number beyond a double (1e400) is refused, naming where it sits', async () => {
      const body = `{"dealId":"${dealId}","kind":"add_note","title":"t","payload":{"x":1e400}}`;
      await refused(() => request(app).post('/api/actions').set(as('scout')).set(json(body)).send(body), 'payload.x');
    });

    it("a domain rule's refusal names its field too", async () => {
      await refused(() => request(app).post(`/api/deals/${dealId}/stage`).set(as('ops')).send({ to: 'lost' }), 'reason');
      // The first change to a principal written before principals were events records its history first.
      const pastExpiry = () => request(app).post('/api/principals/ops/keys').set(as('root')).send({ name: 'k', expiresAt: '1970-01-01T00:00:00.000Z' });
      await pastExpiry().expect(400);
      await refused(pastExpiry, 'expiresAt');
    });
  });

  describe('deep nesting', () => {
    for (const field of ['input', 'output'] as const) {
      it(`5,000 levels in ${field} are refused: 400, and the process answers on`, async () => {
        const deep = '['.repeat(5000) + ']'.repeat(5000);
        const body = field === 'input' ? `{"tool":"search","input":{"a":${deep}}}` : `{"tool":"search","output":${deep}}`;
        await refused(() => request(app).post(`/api/agents/${agentId}/runs/${runId}/tool-calls`).set(as('scout')).set(json(body)).send(body), field);
        await request(app).get('/health').expect(200);
      });
    }

    it('in an action payload is refused', async () => {
      const body = `{"dealId":"${dealId}","kind":"add_note","payload":{"x":${'{"y":'.repeat(5000)}1${'}'.repeat(5000)}}}`;
      await refused(() => request(app).post('/api/actions').set(as('scout')).set(json(body)).send(body), 'payload');
    });

    it('as deep as a document needs (50 levels) is taken', async () => {
      const input = { a: JSON.parse('['.repeat(50) + ']'.repeat(50)) as unknown };
      await request(app).post(`/api/agents/${agentId}/runs/${runId}/tool-calls`).set(as('scout')).send({ tool: 'search', input }).expect(200);
    });
  });

  describe('a position token out of range', () => {
    const overflowing = ['0000000000000001ffffffffffffffff', '80000000000000000000000000000000'];
    for (const token of overflowing) {
      it(`is refused by audit paging and export, naming from (${token.slice(0, 8)}…)`, async () => {
        await refused(() => request(app).get('/api/audit/events').query({ from: token }).set(as('audit')), 'from');
        await refused(() => request(app).get('/api/audit/export').query({ from: token }).set(as('audit')), 'from');
      });
    }

    it('is refused by queries (position, X-Position), the feed (from, Last-Event-ID) and webhooks (from, reset)', async () => {
      const token = overflowing[0]!;
      await refused(() => request(app).get('/api/deals').query({ position: token }).set(as('ops')), 'position');
      await refused(() => request(app).get('/api/deals').set(as('ops')).set('X-Position', token), 'X-Position');
      await refused(() => request(app).get('/api/integrations/feed').query({ from: token }).set(as('int')), 'from');
      await refused(() => request(app).get('/api/integrations/feed').set(as('int')).set('Last-Event-ID', token), 'Last-Event-ID');
      await refused(() => request(app).post('/api/integrations/webhooks').set(as('int')).send({ url: 'https://receiver.example/hook', from: token }), 'from');
      const subscription = await request(app).post('/api/integrations/webhooks').set(as('int')).send({ url: 'https://93.184.216.34/hook' }).expect(201);
      await refused(() => request(app).post(`/api/integrations/webhooks/${subscription.body.id}/reset`).set(as('int')).send({ position: token }), 'position');
    });
  });
});
