import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import { patient } from '../support/async.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createApiKey } from '../support/principals.js';
import { expectCatalogued } from '../support/problems.js';

/**
 * Problems as clients meet them, from each part of the API: every one carries a catalogued code,
 * the code's own title, status and type, and says what happened in `detail` only, so two
 * occurrences of a code that differ in their specifics have the same title.
 */
describe('problem responses', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let app: Express;
  const keys: Record<string, string> = {};
  const deals: string[] = [];

  before(async () => {
    harness = await startTestApp();
    app = harness.app;
    for (const [name, role] of [['ops', 'operator'], ['root', 'admin'], ['audit', 'auditor'], ['int', 'integration']] as const) {
      keys[name] = (await createApiKey(harness.knex, name, role)).key;
    }
    for (const name of ['Acme', 'Globex']) {
      const created = await request(app).post('/api/deals').set(as('ops')).send({ name, company: `${name} Ltd`, amount: { amount: '10', currency: 'USD' } }).expect(201);
      deals.push(created.body.id);
    }
    // Globex one stage on, so that the two deals differ in revision and stage.
    await request(app).post(`/api/deals/${deals[1]}/stage`).set(as('ops')).send({ to: 'screening' }).expect(200);
  });
  after(() => harness.close());

  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  const post = (path: string, who: string | null, body: unknown, headers: Record<string, string> = {}) =>
    request(app).post(path).set({ ...(who ? as(who) : {}), ...headers }).send(body as object);
  const get = (path: string, who: string | null) => request(app).get(path).set(who ? as(who) : {});

  it('answers each with its code, its title and the occurrence in detail', async () => {
    const [acme, globex] = deals as [string, string];
    const tooLarge = JSON.stringify({ name: 'x'.repeat(1_100_000) });
    const cases: [label: string, answer: () => PromiseLike<request.Response>, code: string][] = [
      ['no route', () => get('/api/nothing', 'ops'), 'ROUTE.NOT_FOUND'],
      ['no route outside /api', () => get('/nothing', null), 'ROUTE.NOT_FOUND'],
      ['no credential', () => get('/api/deals', null), 'AUTH.UNAUTHENTICATED'],
      ['an unknown key', () => request(app).get('/api/deals').set('authorization', 'Bearer ds_unknown'), 'AUTH.UNAUTHENTICATED'],
      ['an auditor creating a deal', () => post('/api/deals', 'audit', {}), 'AUTH.FORBIDDEN'],
      ['an operator reading the audit log', () => get('/api/audit/events', 'ops'), 'AUTH.FORBIDDEN'],
      ['an invalid body', () => post('/api/deals', 'ops', { name: '' }), 'REQUEST.INVALID'],
      ['an invalid query', () => get('/api/deals?limit=0', 'ops'), 'REQUEST.INVALID'],
      ['a body that is not JSON', () => post('/api/deals', 'ops', '{"name": ', { 'content-type': 'application/json' }), 'REQUEST.MALFORMED'],
      ['a body too large', () => post('/api/deals', 'ops', tooLarge, { 'content-type': 'application/json' }), 'REQUEST.TOO_LARGE'],
      ['a text/plain body', () => post('/api/deals', 'ops', 'x=1', { 'content-type': 'text/plain' }), 'REQUEST.UNSUPPORTED_MEDIA_TYPE'],
      ['a malformed Idempotency-Key', () => post(`/api/deals/${acme}/notes`, 'ops', { text: 'a' }, { 'idempotency-key': 'has space' }), 'IDEMPOTENCY_KEY.INVALID'],
      ['a malformed If-Match', () => post(`/api/deals/${acme}/notes`, 'ops', { text: 'a' }, { 'if-match': 'soon' }), 'IF_MATCH.INVALID'],
      ['a stale If-Match on Acme', () => post(`/api/deals/${acme}/notes`, 'ops', { text: 'a' }, { 'if-match': '"7"' }), 'STREAM.REVISION_CHANGED'],
      ['a stale If-Match on Globex', () => post(`/api/deals/${globex}/notes`, 'ops', { text: 'a' }, { 'if-match': '"0"' }), 'STREAM.REVISION_CHANGED'],
      ['a note on a deal that is not there', () => post(`/api/deals/${randomUUID()}/notes`, 'ops', { text: 'a' }), 'DEAL.NOT_FOUND'],
      ['another deal that is not there', () => get(`/api/deals/${randomUUID()}`, 'ops'), 'DEAL.NOT_FOUND'],
      ['Acme to its own stage', () => post(`/api/deals/${acme}/stage`, 'ops', { to: 'sourcing' }), 'DEAL.STAGE_UNCHANGED'],
      ['Globex to its own stage', () => post(`/api/deals/${globex}/stage`, 'ops', { to: 'screening' }), 'DEAL.STAGE_UNCHANGED'],
      ['a loss without a reason', () => post(`/api/deals/${acme}/stage`, 'ops', { to: 'lost' }), 'DEAL.REASON_REQUIRED'],
      ['an action that is not there', () => get(`/api/actions/${randomUUID()}`, 'ops'), 'ACTION.NOT_FOUND'],
      ['an agent that is not there', () => get(`/api/agents/${randomUUID()}`, 'ops'), 'AGENT.NOT_FOUND'],
      ['an audited stream that is not there', () => get(`/api/audit/streams/deal-${randomUUID()}/events`, 'audit'), 'STREAM.NOT_FOUND'],
      ['a state the stream never reached', () => get(`/api/audit/deals/${acme}/state?revision=99`, 'audit'), 'STREAM.STATE_NOT_FOUND'],
      ['an event type that is not there', () => get('/api/integrations/event-types/NothingHappened', 'int'), 'EVENT_TYPE.NOT_FOUND'],
      ['a webhook subscription that is not there', () => get(`/api/integrations/webhooks/${randomUUID()}`, 'int'), 'WEBHOOK.NOT_FOUND'],
      ['a principal that is not there', () => get('/api/principals/nobody', 'root'), 'PRINCIPAL.NOT_FOUND'],
      ['job queues this process has not', () => get('/api/workers', 'root'), 'QUEUES.UNAVAILABLE'],
    ];
    const seen = new Map<string, { label: string; title: string; detail: string }[]>();
    for (const [label, answer, code] of cases) {
      const res = await answer();
      expect(res.type, label).to.equal('application/problem+json');
      expect(res.body.code, `${label}: ${JSON.stringify(res.body)}`).to.equal(code);
      expect(res.status, label).to.equal(expectCatalogued(res.body, label).status);
      seen.set(code, [...(seen.get(code) ?? []), { label, title: res.body.title, detail: res.body.detail }]);
    }
    // Occurrences that differ in what happened differ in detail, never in title.
    for (const code of ['STREAM.REVISION_CHANGED', 'DEAL.STAGE_UNCHANGED', 'AUTH.FORBIDDEN', 'DEAL.NOT_FOUND']) {
      const [one, other] = seen.get(code)!;
      expect(one!.title, code).to.equal(other!.title);
      if (code !== 'DEAL.NOT_FOUND') expect(one!.detail, code).not.to.equal(other!.detail);
    }
    expect(seen.get('STREAM.REVISION_CHANGED')!.map((s) => s.detail)).to.deep.equal([
      'Expected revision 7, but the stream is at 0',
      'Expected revision 0, but the stream is at 1',
    ]);
  });

  it('answers the same Idempotency-Key with another request with a catalogued 422', async () => {
    await post(`/api/deals/${deals[0]}/notes`, 'ops', { text: 'once' }, { 'idempotency-key': 'problem-reuse' }).expect(200);
    const reused = await post(`/api/deals/${deals[0]}/notes`, 'ops', { text: 'twice' }, { 'idempotency-key': 'problem-reuse' }).expect(422);
    expect(reused.type).to.equal('application/problem+json');
    expect(expectCatalogued(reused.body).code).to.equal('IDEMPOTENCY_KEY.REUSED');
    expect(reused.body.type).to.equal('/problems/idempotency-key-reused');
  });
});
