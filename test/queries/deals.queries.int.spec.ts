import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import { createApiKey } from '../support/principals.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { payloadOf } from '../support/action-payloads.js';
import { expectDeclaredShape } from './declared-shape.js';

interface DealItem {
  id: string;
  name: string;
  stage: string;
  amount: { amount: string; currency: string };
  pendingApprovals: number;
  lastActivityAt: string;
  updatedAt: string;
}

describe('deal queries: list, one deal, pipeline, read-your-writes', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let app: Express;
  const keys: Record<string, string> = {};
  let position = '';
  const deals: Record<string, string> = {};

  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  async function command(path: string, body: object, who = 'ops', method: 'post' | 'patch' = 'post'): Promise<request.Response> {
    const res = await request(app)[method](path).set(as(who)).send(body);
    expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
    if (res.body.position > position) position = res.body.position;
    return res;
  }
  async function create(key: string, name: string, company: string, amount: string, currency = 'USD', tags: string[] = []) {
    const res = await command('/api/deals', { name, company, amount: { amount, currency }, tags });
    deals[key] = res.headers.location!.split('/').pop()!;
  }
  async function ok(path: string, query: Record<string, string | number> = {}) {
    const res = await request(app).get(path).query({ ...query, position }).set(as('audit'));
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.headers['x-stale']).to.equal('false');
    expectDeclaredShape(path, res.body);
    return res.body;
  }
  async function names(query: Record<string, string | number>): Promise<string[]> {
    return ((await ok('/api/deals', query)).items as DealItem[]).map((deal) => deal.name);
  }

  before(async () => {
    harness = await startTestApp({ projections: true });
    app = harness.app;
    for (const [name, role] of [['ops', 'operator'], ['scout', 'agent'], ['ana', 'approver'], ['audit', 'auditor']] as const) {
      keys[name] = (await createApiKey(harness.knex, name, role)).key;
    }
    await create('acme', 'Acme buyout', 'Acme Ltd', '1250000.50', 'USD', ['saas', 'emea']);
    await create('globex', 'Globex merger', 'Globex Corp', '300000', 'USD', ['fintech']);
    await create('initech', 'Initech stake', 'Initech', '75000', 'EUR', ['saas']);
    await create('umbrella', 'Umbrella carve-out', 'Umbrella 100% Inc', '9000000', 'USD');
    await command(`/api/deals/${deals.globex}/stage`, { to: 'diligence' });
    await command(`/api/deals/${deals.initech}/stage`, { to: 'lost', reason: 'No budget' });
    await command(`/api/deals/${deals.acme}/owner`, { ownerId: 'bo' });
    await command(`/api/deals/${deals.acme}/notes`, { text: 'Call went well' });
    await command('/api/actions', { dealId: deals.acme, kind: 'send_email', title: 'Send the NDA', payload: payloadOf('send_email') }, 'scout');
    await command('/api/actions', { dealId: deals.acme, kind: 'schedule_meeting', title: 'Book a call', payload: payloadOf('schedule_meeting') }, 'scout');
  });
  after(() => harness.close());

  it('lists deals newest first, each with its pending approvals and last activity', async () => {
    const { items, nextCursor } = await ok('/api/deals');
    expect(items.map((deal: DealItem) => deal.name)).to.deep.equal(['Umbrella carve-out', 'Initech stake', 'Globex merger', 'Acme buyout']);
    expect(nextCursor).to.equal(null);
    const acme = items.find((deal: DealItem) => deal.name === 'Acme buyout');
    expect(acme).to.deep.include({ id: deals.acme, ownerId: 'bo', stage: 'sourcing', status: 'open', notesCount: 1, pendingApprovals: 1 });
    expect(acme.amount).to.deep.equal({ amount: '1250000.5', currency: 'USD' });
    expect(acme.lastActivityAt >= acme.updatedAt, 'the action came after the note').to.equal(true);
  });

  it('filters by stage, owner, tag, text and amount, and sorts', async () => {
    expect(await names({ stage: 'diligence,lost' })).to.deep.equal(['Initech stake', 'Globex merger']);
    expect(await names({ owner: 'bo' })).to.deep.equal(['Acme buyout']);
    expect(await names({ tag: 'saas' })).to.deep.equal(['Initech stake', 'Acme buyout']);
    expect(await names({ q: 'glob' })).to.deep.equal(['Globex merger']);
    expect(await names({ q: '100%' }), 'wildcards in the text are literal').to.deep.equal(['Umbrella carve-out']);
    expect(await names({ minAmount: '300000', maxAmount: '2000000' })).to.deep.equal(['Globex merger', 'Acme buyout']);
    expect(await names({ currency: 'EUR' })).to.deep.equal(['Initech stake']);
    expect(await names({ sort: 'amount', order: 'asc' })).to.deep.equal(['Initech stake', 'Globex merger', 'Acme buyout', 'Umbrella carve-out']);
    expect(await names({ sort: 'updated' })).to.deep.equal(['Acme buyout', 'Initech stake', 'Globex merger', 'Umbrella carve-out']);
  });

  it('pages with a cursor, with no gap and no duplicate', async () => {
    for (const sort of ['created', 'updated', 'amount']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: DealItem[]; nextCursor: string | null } = await ok('/api/deals', { sort, limit: 1, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((deal) => deal.name));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen, sort).to.deep.equal(await names({ sort }));
    }
  });

  it('answers one deal with stage history, notes, open actions and recent events', async () => {
    const acme = await ok(`/api/deals/${deals.acme}`);
    expect(acme).to.deep.include({ name: 'Acme buyout', pendingApprovals: 1 });
    expect(acme.stageHistory.map((step: { to: string }) => step.to)).to.deep.equal(['sourcing']);
    expect(acme.notes.map((note: { text: string }) => note.text)).to.deep.equal(['Call went well']);
    expect(acme.openActions.map((action: { title: string; status: string }) => [action.title, action.status])).to.have.deep.members([
      ['Send the NDA', 'awaiting_approval'],
      ['Book a call', 'approved'],
    ]);
    expect(acme.recentEvents[0].type).to.equal('ActionApproved');
    expect(acme.recentEvents.map((event: { type: string }) => event.type)).to.include.members(['DealCreated', 'DealOwnerAssigned', 'DealNoteAdded']);
    // Times in the lists are ISO 8601 in UTC, as everywhere else in the API.
    const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    for (const time of [acme.stageHistory[0].at, acme.notes[0].at, ...acme.openActions.map((action: { proposedAt: string }) => action.proposedAt), acme.openActions.find((action: { status: string }) => action.status === 'awaiting_approval').expiresAt, acme.recentEvents[0].occurredAt]) {
      expect(time).to.match(isoTime);
    }

    const initech = await ok(`/api/deals/${deals.initech}`);
    expect(initech).to.deep.include({ stage: 'lost', status: 'lost', lostFrom: 'sourcing' });
    expect(initech.stageHistory.map((step: { from: string | null; to: string; reason: string | null }) => [step.from, step.to, step.reason])).to.deep.equal([
      [null, 'sourcing', null],
      ['sourcing', 'lost', 'No budget'],
    ]);
  });

  it('sums the pipeline per stage and currency, in stage order', async () => {
    expect((await ok('/api/pipeline')).stages).to.deep.equal([
      { stage: 'sourcing', currency: 'USD', deals: 2, total: '10250000.5' },
      { stage: 'diligence', currency: 'USD', deals: 1, total: '300000' },
      { stage: 'lost', currency: 'EUR', deals: 1, total: '75000' },
    ]);
    expect((await ok('/api/pipeline', { currency: 'EUR' })).stages).to.have.length(1);
  });

  it('answers every amount in its canonical form: a deal created with "25000000.00" reads "25000000" everywhere', async () => {
    await create('wayne', 'Wayne spin-off', 'Wayne Enterprises', '25000000.00', 'GBP');
    const expected = { amount: '25000000', currency: 'GBP' };
    const listed = (await ok('/api/deals', { currency: 'GBP' })).items as DealItem[];
    expect(listed.map((deal) => deal.amount)).to.deep.equal([expected]);
    expect((await ok(`/api/deals/${deals.wayne}`)).amount).to.deep.equal(expected);
    expect((await ok('/api/pipeline', { currency: 'GBP' })).stages).to.deep.equal([{ stage: 'sourcing', currency: 'GBP', deals: 1, total: '25000000' }]);
    // The event carries it so too, and the timeline's summary of it.
    const [created] = (await ok('/api/events/recent', { dealId: deals.wayne! })).items;
    expect(created.data.amount).to.deep.equal(expected);
    expect(created.summary).to.equal('ops created Wayne spin-off (Wayne Enterprises, 25000000 GBP)');
    // Updated by another form of the same amount: no change, no event.
    await command(`/api/deals/${deals.wayne}`, { amount: { amount: '25000000.0000', currency: 'GBP' } }, 'ops', 'patch');
    expect((await ok(`/api/deals/${deals.wayne}`)).revision).to.equal('0');
  });

  it('reads its own writes: a query given the command position sees it, every time', async () => {
    for (let i = 0; i < 25; i++) {
      const res = await command(`/api/deals/${deals.globex}/notes`, { text: `Note ${i}` });
      const deal = await request(app).get(`/api/deals/${deals.globex}`).set(as('audit')).set('X-Position', res.body.position).expect(200);
      expect(deal.headers['x-stale']).to.equal('false');
      expect(deal.body.notesCount).to.equal(i + 1);
      expect(deal.body.revision).to.equal(res.body.revision);
    }
  });

  it('answers bad queries with 400 naming the field, an unknown deal with 404, no key with 401', async () => {
    const bad = await request(app).get('/api/deals').query({ stage: 'nowhere', limit: 0, sort: 'size', cursor: 'zzz', colour: 'red' }).set(as('audit')).expect(400);
    expect(bad.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).to.have.members(['stage.0', 'limit', 'sort', 'cursor', 'colour']);
    for (const path of ['/api/actions', '/api/hitl/approval-queue', '/api/agents', '/api/agent/activity', '/api/events/recent', '/api/pipeline']) {
      const unknown = await request(app).get(path).query({ colour: 'red' }).set(as('audit')).expect(400);
      expect(unknown.body.errors.map((e: { field: string }) => e.field), path).to.deep.equal(['colour']);
    }
    const position = await request(app).get('/api/deals').query({ position: 'nope' }).set(as('audit')).expect(400);
    expect(position.body.errors.map((e: { field: string }) => e.field)).to.deep.equal(['position']);
    const missing = await request(app).get('/api/deals/00000000-0000-4000-8000-000000000000').set(as('audit')).expect(404);
    expect(missing.body.code).to.equal('DEAL.NOT_FOUND');
    await request(app).get('/api/deals').expect(401);
  });

  it('shows the projections to an admin: live, caught up with the last command', async () => {
    keys.root = (await createApiKey(harness.knex, 'root', 'admin')).key;
    await request(app).get('/api/projections').set(as('audit')).expect(403);
    await ok('/api/deals'); // waits until the projections have passed the last command
    // A projection that only skipped the last events announces that at once and stores it within a second.
    const projections = async () => (await request(app).get('/api/projections').set(as('root')).expect(200)).body.projections as { name: string; checkpoint: string }[];
    await eventually(async () => (await projections()).every((status) => status.checkpoint >= position), 5000, 'stored checkpoints');
    const statuses = await projections();
    expect(statuses.map((p) => p.name)).to.deep.equal(['deals', 'actions', 'agents', 'timeline']);
    const versions: Record<string, number> = { deals: 2, actions: 1, agents: 1, timeline: 3 };
    for (const status of statuses) {
      expect(status, status.name).to.deep.include({ state: 'live', version: versions[status.name], codeVersion: versions[status.name], rebuild: null });
    }
  });

  it('says when it could not wait long enough: X-Stale', async () => {
    const ahead = '7fffffffffffffff0000000000000000';
    const res = await request(app).get('/api/pipeline').query({ position: ahead }).set(as('audit')).expect(200);
    expect(res.headers['x-stale']).to.equal('true');
  });
});
