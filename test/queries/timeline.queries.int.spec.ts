import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import { bindAgent, createApiKey } from '../support/principals.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { payloadOf } from '../support/action-payloads.js';
import { expectDeclaredShape } from './declared-shape.js';

interface Item {
  position: string;
  id: string;
  streamId: string;
  category: string;
  type: string;
  dealId: string | null;
  actor: { kind: string; id: string };
  occurredAt: string;
  summary: string;
  data: Record<string, unknown>;
}

describe('timeline queries: GET /api/events/recent', () => {
  let harness: TestApp;
  let app: Express;
  const keys: Record<string, string> = {};
  const ids = { acme: '', beta: '', action: '', agent: '', run: '' };
  /** The position of the last command: every query below waits for the timeline to pass it. */
  let position = '';

  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  const idOf = (res: request.Response) => res.headers.location!.split('/').pop()!;
  const usd = (amount: string) => ({ amount, currency: 'USD' });

  async function send(path: string, by: string, body: object, status = 200): Promise<request.Response> {
    const res = await request(app).post(`/api${path}`).set(as(by)).send(body).expect(status);
    position = res.body.position as string;
    return res;
  }
  async function recent(query: Record<string, string | number> = {}): Promise<{ items: Item[]; nextCursor: string | null }> {
    const res = await request(app)
      .get('/api/events/recent')
      .query({ position, ...query })
      .set(as('ops'))
      .expect(200);
    expect(res.headers['x-stale']).to.equal('false');
    expectDeclaredShape('/api/events/recent', res.body);
    return res.body;
  }
  async function all(query: Record<string, string | number> = {}): Promise<Item[]> {
    return (await recent({ limit: 200, ...query })).items;
  }

  before(async () => {
    harness = await startTestApp({ projections: true });
    app = harness.app;
    for (const [name, role] of [['ops', 'operator'], ['scout', 'agent'], ['ana', 'approver'], ['root', 'admin']] as const) {
      keys[name] = (await createApiKey(harness.knex, name, role)).key;
    }
    ids.acme = idOf(await send('/deals', 'ops', { name: 'Acme', company: 'Acme Ltd', amount: usd('100') }, 201));
    ids.beta = idOf(await send('/deals', 'ops', { name: 'Beta', company: 'Beta Ltd', amount: usd('200') }, 201));
    await send(`/deals/${ids.acme}/stage`, 'ops', { to: 'screening' });
    ids.action = idOf(await send('/actions', 'scout', { dealId: ids.acme, kind: 'send_email', title: 'Send the NDA', payload: payloadOf('send_email') }, 201));
    ids.agent = idOf(await send('/agents', 'root', { name: 'Scout', model: 'gpt-5' }, 201));
    await send(`/deals/${ids.beta}/notes`, 'ops', { text: 'call them' });
    await send(`/actions/${ids.action}/approve`, 'ana', {});
    await bindAgent(harness.knex, 'scout', ids.agent);
    ids.run = idOf(await send(`/agents/${ids.agent}/runs`, 'scout', { goal: 'Research Acme', dealId: ids.acme }, 201));
    const run = `/agents/${ids.agent}/runs/${ids.run}`;
    await send(`${run}/tool-calls`, 'scout', { tool: 'web_search', input: { q: 'Acme' } });
    await send(`${run}/complete`, 'scout', { summary: 'Acme looks good', tokens: { input: 10, output: 5 }, cost: usd('0.42') });
  });
  after(() => harness.close());

  it('lists every event newest first across streams, each with its envelope and summary', async () => {
    const items = await all();
    expect(items.map((item) => item.type)).to.deep.equal([
      'AgentSpendRecorded',
      'AgentRunCompleted',
      'AgentToolCalled',
      'AgentRunStarted',
      'ActionApproved',
      'ActionApprovalGiven',
      'DealNoteAdded',
      'AgentRegistered',
      'ActionApprovalRequested',
      'ActionRiskAssessed',
      'ActionProposed',
      'DealStageChanged',
      'DealCreated',
      'DealCreated',
    ]);
    const positions = items.map((item) => item.position);
    expect(positions).to.deep.equal([...positions].sort().reverse());
    expect(items[0]!.position).to.equal(position);

    const created = items.at(-1)!;
    expect(created).to.deep.equal({
      position: created.position,
      id: created.id,
      streamId: `deal-${ids.acme}`,
      category: 'deal',
      type: 'DealCreated',
      dealId: ids.acme,
      actor: { kind: 'user', id: 'ops' },
      occurredAt: created.occurredAt,
      summary: 'ops created Acme (Acme Ltd, 100 USD)',
      data: { dealId: ids.acme, name: 'Acme', company: 'Acme Ltd', amount: usd('100'), ownerId: 'ops', tags: [], stage: 'sourcing' },
    });
    expect(created.id).to.match(/^[0-9a-f-]{36}$/);
    expect(new Date(created.occurredAt).toISOString()).to.equal(created.occurredAt);
    expect(items.find((item) => item.type === 'DealStageChanged')!.summary).to.equal('ops moved Acme from sourcing to screening');
  });

  it("attributes an action's and an agent run's later events to their deal", async () => {
    const items = await all({ dealId: ids.acme });
    expect(items.map((item) => [item.type, item.streamId])).to.deep.equal([
      ['AgentSpendRecorded', `agent-${ids.agent}`],
      ['AgentRunCompleted', `agent-${ids.agent}-run-${ids.run}`],
      ['AgentToolCalled', `agent-${ids.agent}-run-${ids.run}`],
      ['AgentRunStarted', `agent-${ids.agent}-run-${ids.run}`],
      ['ActionApproved', `action-${ids.action}`],
      ['ActionApprovalGiven', `action-${ids.action}`],
      ['ActionApprovalRequested', `action-${ids.action}`],
      ['ActionRiskAssessed', `action-${ids.action}`],
      ['ActionProposed', `action-${ids.action}`],
      ['DealStageChanged', `deal-${ids.acme}`],
      ['DealCreated', `deal-${ids.acme}`],
    ]);
    expect(items.every((item) => item.dealId === ids.acme)).to.equal(true);
    expect(items.find((item) => item.type === 'ActionApproved')!.summary).to.equal('"Send the NDA" was approved by ana');
    expect(items.find((item) => item.type === 'AgentToolCalled')!.summary).to.equal('scout called web_search in "Research Acme"');
    expect((await all({ dealId: ids.beta })).map((item) => item.type)).to.deep.equal(['DealNoteAdded', 'DealCreated']);
  });

  it('filters by one category or a comma list, by type, and combines filters', async () => {
    const categories = async (category: string) => [...new Set((await all({ category })).map((item) => item.category))].sort();
    expect(await categories('action')).to.deep.equal(['action']);
    expect(await categories('deal,agent')).to.deep.equal(['agent', 'deal']);
    expect((await all({ category: 'deal' })).length).to.equal(4);

    const approved = await all({ type: 'ActionApproved' });
    expect(approved.map((item) => item.streamId)).to.deep.equal([`action-${ids.action}`]);
    expect((await all({ type: 'DealCreated,DealNoteAdded' })).map((item) => item.type)).to.deep.equal(['DealNoteAdded', 'DealCreated', 'DealCreated']);
    expect((await all({ dealId: ids.acme, category: 'agent', type: 'AgentRunStarted' })).map((item) => item.type)).to.deep.equal(['AgentRunStarted']);
    expect(await all({ dealId: crypto.randomUUID() })).to.deep.equal([]);
  });

  it('pages with nextCursor to the end without duplicates or gaps, under a filter too', async () => {
    const filters: Record<string, string>[] = [{}, { dealId: ids.acme }];
    for (const filter of filters) {
      const everything = await all(filter);
      const paged: Item[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: Item[]; nextCursor: string | null } = await recent({ ...filter, limit: 3, ...(cursor ? { cursor } : {}) });
        expect(page.items.length).to.be.at.most(3);
        paged.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      expect(paged.map((item) => item.position)).to.deep.equal(everything.map((item) => item.position));
    }
  });

  it('answers 400 problem+json naming a bad query field', async () => {
    const bad = { category: 'deal,bogus', type: 'DealExploded', dealId: 'not-a-uuid', limit: '0', cursor: 'garbage' };
    for (const [field, value] of Object.entries(bad)) {
      const res = await request(app)
        .get('/api/events/recent')
        .query({ [field]: value })
        .set(as('ops'))
        .expect(400);
      expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
      expect(res.body.errors.map((error: { field: string }) => error.field)).to.deep.equal([field]);
    }
    const unknown = await request(app).get('/api/events/recent').query({ deal: ids.acme }).set(as('ops')).expect(400);
    expect(unknown.body.detail).to.include('deal');
  });

  it('answers 401 without a key', async () => {
    const res = await request(app).get('/api/events/recent').expect(401);
    expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
  });
});
