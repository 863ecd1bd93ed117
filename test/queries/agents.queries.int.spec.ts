import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { handleCommand, loadStream } from '../../src/commands/handle-command.js';
import { agentRunDecider } from '../../src/domain/agents/agent-run.decider.js';
import { agentDecider } from '../../src/domain/agents/agent.decider.js';
import { agentRunStreamId, agentStreamId } from '../../src/domain/agents/agent.events.js';
import { comparePositions } from '../../src/eventstore/position.js';
import { bindAgent, createApiKey } from '../support/principals.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { expectDeclaredShape } from './declared-shape.js';

const UNKNOWN = '00000000-0000-4000-8000-000000000000';
/** Decodes like a cursor, but its first value is no time. */
const forged = Buffer.from('["x","y"]').toString('base64url');

interface Run {
  runId: string;
  agentId: string;
  status: string;
  startedAt: string;
  toolCalls?: { toolCallId: string; tool: string }[];
}

describe('agent queries: activity, agents and runs', () => {
  let harness: TestApp;
  let app: Express;
  const keys: Record<string, string> = {};
  /** The latest command's position: every query waits for the agents model to pass it. */
  let position = '';
  const agents = { scout: '', analyst: '', zed: '', busy: '' };
  const runs = { researched: '', failed: '', running: '', analysed: '', overspent: '' };
  let dealId: string;
  const busyRuns: string[] = [];

  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  const idOf = (res: request.Response) => res.headers.location!.split('/').pop()!;
  const usd = (amount: string) => ({ amount, currency: 'USD' });
  const tokens = (input: number, output: number) => ({ input, output });

  async function command(path: string, body: object, who = 'root'): Promise<request.Response> {
    const res = await request(app).post(path).set(as(who)).send(body);
    expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
    if (!position || comparePositions(res.body.position, position) > 0) position = res.body.position;
    return res;
  }
  const register = async (name: string, budget?: object) => idOf(await command('/api/agents', { name, model: 'gpt-5', capabilities: ['research'], ...(budget ? { budget } : {}) }));
  // scout is the agent principal of whichever agent it acts for next.
  const asAgent = async (agentId: string, path: string, body: object) => {
    await bindAgent(harness.knex, 'scout', agentId);
    return command(path, body, 'scout');
  };
  const start = async (agentId: string, body: object = { goal: 'Look around' }) => idOf(await asAgent(agentId, `/api/agents/${agentId}/runs`, body));
  const finish = (agentId: string, runId: string, outcome: 'complete' | 'fail', body: object) => asAgent(agentId, `/api/agents/${agentId}/runs/${runId}/${outcome}`, body);
  const callTool = (agentId: string, runId: string, body: object) => asAgent(agentId, `/api/agents/${agentId}/runs/${runId}/tool-calls`, body);

  function get(path: string, query: Record<string, string | number> = {}) {
    return request(app).get(path).query({ ...query, position }).set(as('audit'));
  }
  async function ok(path: string, query: Record<string, string | number> = {}) {
    const res = await get(path, query);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.headers['x-stale']).to.equal('false');
    expectDeclaredShape(path, res.body);
    return res.body;
  }
  /** Follows nextCursor to the end, `limit` at a time. */
  async function allPages<T>(path: string, query: Record<string, string | number>, limit: number): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: T[]; nextCursor: string | null } = await ok(path, { ...query, limit, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).to.be.at.most(limit);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }
  const ids = (items: Run[]) => items.map((run) => run.runId);

  before(async () => {
    harness = await startTestApp({ projections: true });
    app = harness.app;
    for (const [name, role] of [['root', 'admin'], ['scout', 'agent'], ['ops', 'operator'], ['audit', 'auditor']] as const) {
      keys[name] = (await createApiKey(harness.knex, name, role)).key;
    }
    dealId = idOf(await command('/api/deals', { name: 'Acme', company: 'Acme Ltd', amount: usd('100') }, 'ops'));

    agents.scout = await register('Scout', usd('1.00'));
    runs.researched = await start(agents.scout, { goal: 'Research Acme', dealId });
    await callTool(agents.scout, runs.researched, { toolCallId: 'search', tool: 'web_search', input: { q: 'Acme' }, output: { hits: 3 }, durationMs: 420 });
    await callTool(agents.scout, runs.researched, { toolCallId: 'fetch', tool: 'fetch_page', input: { url: 'https://acme.test' }, error: 'timeout' });
    await finish(agents.scout, runs.researched, 'complete', { summary: 'Acme looks good', tokens: tokens(1000, 200), cost: usd('0.1') });
    runs.failed = await start(agents.scout, { goal: 'Email Acme', dealId });
    await finish(agents.scout, runs.failed, 'fail', { error: 'rate limited', tokens: tokens(50, 0), cost: usd('0.2') });
    runs.running = await start(agents.scout, { goal: 'Still thinking' });

    agents.analyst = await register('Analyst');
    runs.analysed = await start(agents.analyst, { goal: 'Model Acme', dealId });
    await finish(agents.analyst, runs.analysed, 'complete', { summary: 'Modelled', tokens: tokens(10, 5), cost: usd('3') });

    agents.zed = await register('Zed', { amount: '0.50', currency: 'EUR' });
    runs.overspent = await start(agents.zed);
    await finish(agents.zed, runs.overspent, 'complete', { summary: 'Pricey', tokens: tokens(1, 1), cost: { amount: '0.75', currency: 'EUR' } });

    agents.busy = await register('Busy');
    busyRuns.push(...(await Promise.all(Array.from({ length: 21 }, (_, i) => start(agents.busy, { goal: `Task ${i}` })))));
  });
  after(() => harness.close());

  describe('GET /api/agent/activity', () => {
    it('lists runs across agents newest first, with agent name, outcome, tool calls, tokens and cost', async () => {
      const { items, nextCursor } = await ok('/api/agent/activity', { limit: 200 });
      expect(nextCursor).to.equal(null);
      expect(items).to.have.length(26);
      const order = [...items].sort((a: Run, b: Run) => (a.startedAt === b.startedAt ? (a.runId < b.runId ? 1 : -1) : a.startedAt < b.startedAt ? 1 : -1));
      expect(ids(items)).to.deep.equal(ids(order));
      expect(ids(items).at(-1)).to.equal(runs.researched);

      const researched = items.find((run: Run) => run.runId === runs.researched);
      expect(researched).to.deep.include({
        agentId: agents.scout,
        agentName: 'Scout',
        dealId,
        goal: 'Research Acme',
        status: 'completed',
        startedBy: { kind: 'agent', id: 'scout' },
        toolCallCount: 2,
        tokens: { input: 1000, output: 200 },
        cost: usd('0.1'),
        summary: 'Acme looks good',
        error: null,
      });
      expect(Date.parse(researched.endedAt)).to.be.at.least(Date.parse(researched.startedAt));
      expect(researched.lastActivityAt).to.equal(researched.endedAt);
      expect(items.find((run: Run) => run.runId === runs.failed)).to.deep.include({ status: 'failed', error: 'rate limited', summary: null, cost: usd('0.2') });
      expect(items.find((run: Run) => run.runId === runs.running)).to.deep.include({ status: 'running', dealId: null, cost: null, endedAt: null, toolCallCount: 0 });
    });

    it('filters by agent, deal and status, alone and together', async () => {
      const list = async (query: Record<string, string>) => ids((await ok('/api/agent/activity', query)).items);
      expect(await list({ agentId: agents.scout })).to.deep.equal([runs.running, runs.failed, runs.researched]);
      expect(await list({ dealId })).to.deep.equal([runs.analysed, runs.failed, runs.researched]);
      expect(await list({ status: 'completed' })).to.deep.equal([runs.overspent, runs.analysed, runs.researched]);
      expect(await list({ agentId: agents.scout, dealId, status: 'failed' })).to.deep.equal([runs.failed]);
      expect(await list({ agentId: UNKNOWN })).to.deep.equal([]);
    });

    it('pages through every run with the cursor, without duplicates or gaps', async () => {
      const all = ids((await ok('/api/agent/activity', { limit: 200 })).items);
      expect(ids(await allPages<Run>('/api/agent/activity', {}, 4))).to.deep.equal(all);
      expect(ids(await allPages<Run>('/api/agent/activity', { status: 'running' }, 5))).to.deep.equal(all.filter((id) => [runs.running, ...busyRuns].includes(id)));
    });
  });

  describe('GET /api/agents', () => {
    it('lists agents by name with budget, exact spend and budget left, and run counts', async () => {
      const { items, nextCursor } = await ok('/api/agents');
      expect(nextCursor).to.equal(null);
      expect(items.map((agent: { name: string }) => agent.name)).to.deep.equal(['Analyst', 'Busy', 'Scout', 'Zed']);
      const [analyst, busy, scout, zed] = items;
      expect(scout).to.deep.include({
        agentId: agents.scout,
        model: 'gpt-5',
        capabilities: ['research'],
        budget: usd('1'),
        spent: usd('0.3'),
        budgetLeft: '0.7',
        spentByCurrency: { USD: '0.3' },
        runs: { running: 1, completed: 1, failed: 1, total: 3 },
        tokens: { input: 1050, output: 200 },
      });
      expect(Date.parse(scout.updatedAt)).to.be.at.least(Date.parse(scout.registeredAt));
      expect(analyst).to.deep.include({ budget: null, spent: null, budgetLeft: null, spentByCurrency: { USD: '3' } });
      expect(busy.runs).to.deep.equal({ running: 21, completed: 0, failed: 0, total: 21 });
      // Zed's one run cost more than its budget had left: nothing is left, and spent says by how much.
      expect(zed).to.deep.include({ budget: { amount: '0.5', currency: 'EUR' }, spent: { amount: '0.75', currency: 'EUR' }, budgetLeft: '0' });
    });

    it('pages through the agents with the cursor', async () => {
      const names = (await allPages<{ name: string }>('/api/agents', {}, 1)).map((agent) => agent.name);
      expect(names).to.deep.equal(['Analyst', 'Busy', 'Scout', 'Zed']);
    });

    it('follows a budget change', async () => {
      await command(`/api/agents/${agents.analyst}/budget`, { budget: usd('10') });
      const analyst = await ok(`/api/agents/${agents.analyst}`);
      expect(analyst).to.deep.include({ budget: usd('10'), spent: usd('3'), budgetLeft: '7' });
    });
  });

  describe('GET /api/agents/:id', () => {
    it('answers an agent with its latest runs, each with its tool calls', async () => {
      const scout = await ok(`/api/agents/${agents.scout}`);
      expect(scout).to.deep.include({ agentId: agents.scout, name: 'Scout', budgetLeft: '0.7' });
      expect(ids(scout.recentRuns)).to.deep.equal([runs.running, runs.failed, runs.researched]);
      const researched = scout.recentRuns.at(-1);
      expect(researched.toolCalls.map((call: { toolCallId: string }) => call.toolCallId)).to.deep.equal(['search', 'fetch']);
      expect(scout.recentRuns[0].toolCalls).to.deep.equal([]);
    });

    it('shows only the 20 latest runs', async () => {
      const busy = await ok(`/api/agents/${agents.busy}`);
      expect(busy.runs.total).to.equal(21);
      const latest = ids((await ok('/api/agent/activity', { agentId: agents.busy, limit: 20 })).items);
      expect(ids(busy.recentRuns)).to.deep.equal(latest);
    });

    it('answers 404 AGENT.NOT_FOUND for an unknown agent', async () => {
      const res = await get(`/api/agents/${UNKNOWN}`).expect(404);
      expect(res.type).to.equal('application/problem+json');
      expect(res.body.code).to.equal('AGENT.NOT_FOUND');
    });
  });

  describe('GET /api/agents/:agentId/runs/:id', () => {
    it('answers one run with all its tool calls in order', async () => {
      const run = await ok(`/api/agents/${agents.scout}/runs/${runs.researched}`);
      expect(run).to.deep.include({ runId: runs.researched, agentName: 'Scout', status: 'completed', toolCallCount: 2 });
      expect(run.toolCalls).to.have.length(2);
      expect(run.toolCalls[0]).to.deep.include({ toolCallId: 'search', tool: 'web_search', input: { q: 'Acme' }, output: { hits: 3 }, error: null, durationMs: 420 });
      expect(run.toolCalls[1]).to.deep.include({ toolCallId: 'fetch', tool: 'fetch_page', output: null, error: 'timeout', durationMs: null });
      expect(Date.parse(run.toolCalls[1].at)).to.be.at.least(Date.parse(run.toolCalls[0].at));
    });

    it('answers 404 AGENT.RUN_NOT_FOUND for an unknown run, or a run of another agent', async () => {
      for (const path of [`/api/agents/${agents.scout}/runs/${UNKNOWN}`, `/api/agents/${agents.analyst}/runs/${runs.researched}`]) {
        const res = await get(path).expect(404);
        expect(res.type).to.equal('application/problem+json');
        expect(res.body.code).to.equal('AGENT.RUN_NOT_FOUND');
      }
    });
  });

  it('answers a bad query with 400 naming the field, and no key with 401', async () => {
    for (const [path, field, value] of [
      ['/api/agent/activity', 'status', 'done'],
      ['/api/agent/activity', 'limit', '0'],
      ['/api/agent/activity', 'cursor', 'nope'],
      ['/api/agent/activity', 'cursor', forged],
      ['/api/agents', 'limit', '201'],
      ['/api/agents', 'cursor', 'nope'],
    ] as const) {
      const res = await get(path, { [field]: value }).expect(400);
      expect(res.type).to.equal('application/problem+json');
      expect(res.body.errors.map((error: { field: string }) => error.field)).to.include(field);
    }
    for (const path of ['/api/agent/activity', '/api/agents', `/api/agents/${agents.scout}`, `/api/agents/${agents.scout}/runs/${runs.researched}`]) {
      await request(app).get(path).expect(401);
    }
  });

  // Last (a suite runs its own tests before its inner suites): it adds an agent and a run the lists above do not expect.
  describe('amounts from before', () => {
    it('answers amounts that events from before carry in another form ("2.50") in the canonical form', async () => {
      const agentId = randomUUID();
      const runId = randomUUID();
      const metadata = () => ({ actor: { kind: 'user' as const, id: 'root' }, now: new Date().toISOString(), correlationId: randomUUID(), causationId: randomUUID() });
      const decide = async (streamId: string, decider: Parameters<typeof handleCommand>[2], command: Parameters<typeof handleCommand>[3]) => {
        const result = await handleCommand(harness.store, streamId, decider, command);
        if (comparePositions(result.position!, position) > 0) position = result.position!;
      };
      // Straight to the deciders, as the commands did before they kept the canonical form.
      await decide(agentStreamId(agentId), agentDecider, { type: 'RegisterAgent', data: { agentId, name: 'Legacy', model: 'm', capabilities: [], budget: usd('2.50') }, metadata: metadata() });
      const agent = (await loadStream(harness.store, agentStreamId(agentId), agentDecider)).state;
      await decide(agentRunStreamId(agentId, runId), agentRunDecider, { type: 'StartAgentRun', data: { agentId, runId, goal: 'Old times', agent }, metadata: metadata() });
      await decide(agentRunStreamId(agentId, runId), agentRunDecider, { type: 'CompleteAgentRun', data: { summary: 'done', tokens: tokens(1, 1), cost: usd('0.10') }, metadata: metadata() });
      await decide(agentStreamId(agentId), agentDecider, { type: 'RecordAgentSpend', data: { runId, cost: usd('0.10') }, metadata: metadata() });

      expect(await ok(`/api/agents/${agentId}`)).to.deep.include({ budget: usd('2.5'), spent: usd('0.1'), budgetLeft: '2.4', spentByCurrency: { USD: '0.1' } });
      expect((await ok(`/api/agents/${agentId}/runs/${runId}`)).cost).to.deep.equal(usd('0.1'));
    });
  });
});
