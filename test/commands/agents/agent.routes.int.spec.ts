import { expect } from 'chai';
import type { Express } from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import { comparePositions } from '../../../src/eventstore/position.js';
import type { EventStore } from '../../../src/eventstore/contract.js';
import { createApiKey } from '../../support/principals.js';
import { collect } from '../../support/async.js';
import { startTestApp, type TestApp } from '../../support/app.js';

describe('agent command routes (registration, budgets, runs)', () => {
  let harness: TestApp;
  let knex: Knex;
  let store: EventStore;
  let app: Express;
  const keys: Record<string, string> = {};

  before(async () => {
    harness = await startTestApp();
    ({ knex, store, app } = harness);
    for (const [name, role] of [['root', 'admin'], ['scout', 'agent'], ['ops', 'operator'], ['audit', 'auditor']] as const) {
      keys[name] = (await createApiKey(knex, name, role)).key;
    }
  });
  after(() => harness.close());

  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  const idOf = (location: string) => location.split('/').pop()!;
  const usd = (amount: string) => ({ amount, currency: 'USD' });
  const tokens = { input: 1000, output: 200 };
  const types = async (streamId: string) => (await collect(store.readStream(streamId))).map((e) => e.type);

  async function register(budget?: { amount: string; currency: string }): Promise<string> {
    const res = await request(app)
      .post('/api/agents')
      .set(as('root'))
      .send({ name: 'Scout', model: 'gpt-5', capabilities: ['research', 'email'], ...(budget ? { budget } : {}) })
      .expect(201);
    expect(res.headers.location).to.match(/^\/api\/agents\/[0-9a-f-]{36}$/);
    const agentId = idOf(res.headers.location!);
    expect(res.body).to.deep.equal({ id: agentId, revision: '0', position: res.body.position });
    // scout is the agent principal of the agent registered last (each test runs its own agent).
    await knex('principals').where({ id: 'scout' }).update({ agent_id: agentId });
    return agentId;
  }
  async function startRun(agentId: string, body: object = { goal: 'Research Acme' }): Promise<string> {
    const res = await request(app).post(`/api/agents/${agentId}/runs`).set(as('scout')).send(body).expect(201);
    expect(res.headers.location).to.match(new RegExp(`^/api/agents/${agentId}/runs/[0-9a-f-]{36}$`));
    expect(res.body).to.have.keys('id', 'revision', 'position').and.include({ id: idOf(res.headers.location!) });
    return idOf(res.headers.location!);
  }

  it('registers an agent, runs it on a deal with tool calls, and completes it; the actor is the key owner', async () => {
    const agentId = await register();
    const deal = await request(app).post('/api/deals').set(as('ops')).send({ name: 'Acme', company: 'Acme Ltd', amount: usd('100') }).expect(201);
    const dealId = idOf(deal.headers.location!);
    const runId = await startRun(agentId, { goal: 'Research Acme', dealId });
    const runPath = `/api/agents/${agentId}/runs/${runId}`;
    await request(app).post(`${runPath}/tool-calls`).set(as('scout')).send({ tool: 'web_search', input: { q: 'Acme' }, output: { hits: 3 }, durationMs: 420 }).expect(200);
    const done = await request(app).post(`${runPath}/complete`).set(as('scout')).send({ summary: 'Acme looks good', tokens, cost: usd('0.42') }).expect(200);
    expect(done.body.revision).to.equal('2');

    const run = await collect(store.readStream(`agent-${agentId}-run-${runId}`));
    expect(run.map((e) => e.type)).to.deep.equal(['AgentRunStarted', 'AgentToolCalled', 'AgentRunCompleted']);
    expect(run[0]!.data).to.include({ agentId, runId, dealId, goal: 'Research Acme' });
    expect(run[0]!.metadata.actor).to.deep.equal({ kind: 'agent', id: 'scout' });
    const agent = await collect(store.readStream(`agent-${agentId}`));
    expect(agent.map((e) => e.type)).to.deep.equal(['AgentRegistered', 'AgentSpendRecorded']);
    expect(agent[1]!.data).to.deep.include({ runId, cost: usd('0.42'), spent: usd('0.42') });
    expect(agent[1]!.metadata.causationId).to.equal(run[2]!.id);
    // The reply's position covers the ledger entry too, so a query given it sees the spend.
    expect(done.body.position).to.equal(agent[1]!.position);
    expect(comparePositions(done.body.position, run[2]!.position)).to.equal(1);
  });

  it('records budgets and costs in their canonical form', async () => {
    const agentId = await register(usd('10.00'));
    await request(app).post(`/api/agents/${agentId}/budget`).set(as('root')).send({ budget: usd('12.50') }).expect(200);
    const completed = await startRun(agentId);
    await request(app).post(`/api/agents/${agentId}/runs/${completed}/complete`).set(as('scout')).send({ summary: 'ok', tokens, cost: usd('0.4200') }).expect(200);
    const failed = await startRun(agentId);
    await request(app).post(`/api/agents/${agentId}/runs/${failed}/fail`).set(as('scout')).send({ error: 'boom', cost: usd('1.10') }).expect(200);

    const agent = await collect(store.readStream(`agent-${agentId}`));
    expect(agent.map((event) => [event.type, event.data.budget ?? event.data.spent])).to.deep.equal([
      ['AgentRegistered', usd('10')],
      ['AgentBudgetSet', usd('12.5')],
      ['AgentSpendRecorded', usd('0.42')],
      ['AgentSpendRecorded', usd('1.52')],
    ]);
    const outcomes = await Promise.all([completed, failed].map(async (runId) => (await collect(store.readStream(`agent-${agentId}-run-${runId}`))).at(-1)!.data.cost));
    expect(outcomes).to.deep.equal([usd('0.42'), usd('1.1')]);
  });

  it('refuses a new run once the budget is spent, until an admin raises it', async () => {
    const agentId = await register(usd('1.00'));
    for (const cost of ['0.60', '0.40']) {
      const runId = await startRun(agentId);
      await request(app).post(`/api/agents/${agentId}/runs/${runId}/complete`).set(as('scout')).send({ summary: 'ok', tokens, cost: usd(cost) }).expect(200);
    }
    const refused = await request(app).post(`/api/agents/${agentId}/runs`).set(as('scout')).send({ goal: 'One more' }).expect(409);
    expect(refused.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(refused.body.code).to.equal('AGENT.BUDGET_EXHAUSTED');

    await request(app).post(`/api/agents/${agentId}/budget`).set(as('scout')).send({ budget: usd('5') }).expect(403);
    await request(app).post(`/api/agents/${agentId}/budget`).set(as('root')).send({ budget: usd('5') }).expect(200);
    await startRun(agentId);
  });

  it('settles the cost of a failed run, and refuses a cost in another currency than the budget', async () => {
    const agentId = await register(usd('10'));
    const runId = await startRun(agentId);
    const path = `/api/agents/${agentId}/runs/${runId}`;
    const wrong = await request(app).post(`${path}/fail`).set(as('scout')).send({ error: 'boom', cost: { amount: '1', currency: 'EUR' } }).expect(400);
    expect(wrong.body.code).to.equal('AGENT.COST_CURRENCY');
    await request(app).post(`${path}/fail`).set(as('scout')).send({ error: 'rate limited', tokens, cost: usd('0.05') }).expect(200);
    const again = await request(app).post(`${path}/complete`).set(as('scout')).send({ summary: 'late', tokens, cost: usd('1') }).expect(409);
    expect(again.body.code).to.equal('AGENT.RUN_FINISHED');
    expect(await types(`agent-${agentId}`)).to.deep.equal(['AgentRegistered', 'AgentSpendRecorded']);
  });

  it('replays a completion retried with its Idempotency-Key: one outcome, one ledger entry', async () => {
    const agentId = await register(usd('10'));
    const runId = await startRun(agentId);
    const send = () =>
      request(app).post(`/api/agents/${agentId}/runs/${runId}/complete`).set(as('scout')).set('Idempotency-Key', `done-${runId}`).send({ summary: 'ok', tokens, cost: usd('2') });
    const [first, second] = await Promise.all([send(), send()]);
    expect(first.status).to.equal(200);
    expect(second.status).to.equal(200);
    expect(second.body).to.deep.equal(first.body);
    expect((await send().expect(200)).body).to.deep.equal(first.body);
    expect(await types(`agent-${agentId}-run-${runId}`)).to.deep.equal(['AgentRunStarted', 'AgentRunCompleted']);
    expect(await types(`agent-${agentId}`)).to.deep.equal(['AgentRegistered', 'AgentSpendRecorded']);
  });

  it('answers bad input and refusals with problem+json, writing nothing', async () => {
    const agentId = await register();
    const runId = await startRun(agentId);
    const runPath = `/api/agents/${agentId}/runs/${runId}`;
    const unknown = '00000000-0000-4000-8000-000000000000';

    const invalid = await request(app).post('/api/agents').set(as('root')).send({ name: '', model: 'gpt-5', budget: { amount: '-1', currency: 'usd' } }).expect(400);
    expect(invalid.body.errors.map((e: { field: string }) => e.field)).to.have.members(['name', 'budget.amount', 'budget.currency']);
    const badCall = await request(app).post(`${runPath}/tool-calls`).set(as('scout')).send({ tool: 'x', durationMs: -1 }).expect(400);
    expect(badCall.body.errors.map((e: { field: string }) => e.field)).to.deep.equal(['durationMs']);
    const badComplete = await request(app).post(`${runPath}/complete`).set(as('scout')).send({ summary: 'ok', cost: usd('1') }).expect(400);
    expect(badComplete.body.errors.map((e: { field: string }) => e.field)).to.deep.equal(['tokens']);

    await request(app).post('/api/agents').send({ name: 'x', model: 'y' }).expect(401);
    for (const name of ['scout', 'ops', 'audit']) await request(app).post('/api/agents').set(as(name)).send({ name: 'x', model: 'y' }).expect(403);
    for (const name of ['ops', 'audit']) await request(app).post(`/api/agents/${agentId}/runs`).set(as(name)).send({ goal: 'x' }).expect(403);
    await request(app).post(`${runPath}/tool-calls`).set(as('scout')).set('content-type', 'text/plain').send('tool=x').expect(415);

    expect((await request(app).post(`/api/agents/${unknown}/runs`).set(as('scout')).send({ goal: 'x' }).expect(404)).body.code).to.equal('AGENT.NOT_FOUND');
    expect((await request(app).post(`/api/agents/${agentId}/runs`).set(as('scout')).send({ goal: 'x', dealId: unknown }).expect(404)).body.code).to.equal('DEAL.NOT_FOUND');
    expect((await request(app).post(`/api/agents/${agentId}/runs/${unknown}/complete`).set(as('scout')).send({ summary: 'ok', tokens, cost: usd('1') }).expect(404)).body.code).to.equal('AGENT.RUN_NOT_FOUND');
    expect((await request(app).post(`/api/agents/${unknown}/budget`).set(as('root')).send({ budget: null }).expect(404)).body.code).to.equal('AGENT.NOT_FOUND');

    const stale = await request(app).post(`${runPath}/tool-calls`).set(as('scout')).set('If-Match', '"5"').send({ tool: 'x' }).expect(412);
    expect(stale.body.code).to.equal('STREAM.REVISION_CHANGED');
    await request(app).post(`${runPath}/tool-calls`).set(as('scout')).set('Idempotency-Key', 'k1').send({ tool: 'x' }).expect(200);
    await request(app).post(`${runPath}/tool-calls`).set(as('scout')).set('Idempotency-Key', 'k1').send({ tool: 'y' }).expect(422);

    expect(await types(`agent-${agentId}`)).to.deep.equal(['AgentRegistered']);
    expect(await types(`agent-${agentId}-run-${runId}`)).to.deep.equal(['AgentRunStarted', 'AgentToolCalled']);
  });

  it('publishes the agent routes in the OpenAPI document with their path parameters', async () => {
    const { body } = await request(app).get('/openapi.json').expect(200);
    const complete = body.paths['/api/agents/{agentId}/runs/{id}/complete'].post;
    expect(complete.parameters.filter((p: { in: string }) => p.in === 'path').map((p: { name: string }) => p.name)).to.deep.equal(['agentId', 'id']);
    expect(body.paths['/api/agents'].post.requestBody.content['application/json'].schema.required).to.include.members(['name', 'model']);
  });
});
