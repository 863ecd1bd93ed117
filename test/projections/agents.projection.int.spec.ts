import { expect } from 'chai';
import { agentsProjection } from '../../src/projections/agents/agents.projection.js';
import { projectionHarness, recorded, type ProjectionHarness } from '../support/projection.js';

describe('agents projection', () => {
  let h: ProjectionHarness;
  before(async () => {
    h = await projectionHarness([agentsProjection]);
  });
  after(() => h.close());

  const usd = (amount: string) => ({ amount, currency: 'USD' });
  const scout = { kind: 'agent', id: 'scout' };
  const at = (minute: number) => `2026-11-22T10:${String(minute).padStart(2, '0')}:00.000Z`;
  const registered = (agentId: string, budget?: { amount: string; currency: string }) =>
    recorded(`agent-${agentId}`, 'AgentRegistered', { agentId, name: `Agent ${agentId}`, model: 'gpt-5', capabilities: ['research'], ...(budget ? { budget } : {}) }, { at: at(0) });
  const runStream = (agentId: string, runId: string) => `agent-${agentId}-run-${runId}`;
  const started = (agentId: string, runId: string, extra: Record<string, unknown> = {}) =>
    recorded(runStream(agentId, runId), 'AgentRunStarted', { agentId, runId, goal: `Goal ${runId}`, startedBy: scout, ...extra }, { at: at(1), actor: scout });
  const toolCalled = (agentId: string, runId: string, toolCallId: string, extra: Record<string, unknown> = {}, minute = 2) =>
    recorded(runStream(agentId, runId), 'AgentToolCalled', { agentId, runId, toolCallId, tool: 'web_search', input: { q: toolCallId }, ...extra }, { at: at(minute), actor: scout });
  const completed = (agentId: string, runId: string, cost: { amount: string; currency: string }, tokens = { input: 100, output: 20 }) =>
    recorded(runStream(agentId, runId), 'AgentRunCompleted', { agentId, runId, summary: `Done ${runId}`, tokens, cost }, { at: at(5), actor: scout });
  const failed = (agentId: string, runId: string, cost?: { amount: string; currency: string }) =>
    recorded(runStream(agentId, runId), 'AgentRunFailed', { agentId, runId, error: 'rate limited', tokens: { input: 7, output: 0 }, ...(cost ? { cost } : {}) }, { at: at(6), actor: scout });
  const spend = (agentId: string, runId: string, cost: { amount: string; currency: string }, spent: { amount: string; currency: string }) =>
    recorded(`agent-${agentId}`, 'AgentSpendRecorded', { agentId, runId, cost, spent }, { at: at(7) });

  const agent = async (agentId: string) => (await h.rows('agents')).find((row) => row.agent_id === agentId);
  const run = async (runId: string) => (await h.rows('agent_runs')).find((row) => row.run_id === runId);
  const toolCalls = async (runId: string) => (await h.rows('agent_tool_calls', 'run_id, revision')).filter((row) => row.run_id === runId);

  it('registers an agent with no runs, spend or tokens yet', async () => {
    await h.given(registered('a1'));
    expect(await agent('a1')).to.deep.equal({
      agent_id: 'a1',
      name: 'Agent a1',
      model: 'gpt-5',
      capabilities: ['research'],
      budget_amount: null,
      budget_currency: null,
      spent: {},
      runs_running: 0,
      runs_completed: 0,
      runs_failed: 0,
      tokens_input: '0',
      tokens_output: '0',
      registered_at: new Date(at(0)),
      updated_at: new Date(at(0)),
    });
  });

  it('sets, changes and removes the budget, and keeps the ledger total per currency, within one batch', async () => {
    await h.given(
      registered('a2', usd('10.00')),
      recorded('agent-a2', 'AgentBudgetSet', { agentId: 'a2', budget: { amount: '20', currency: 'EUR' } }),
      spend('a2', 'r1', usd('1.25'), usd('1.25')),
      spend('a2', 'r2', usd('0.0001'), usd('1.2501')),
      spend('a2', 'r3', { amount: '3', currency: 'EUR' }, { amount: '3', currency: 'EUR' }),
    );
    expect(await agent('a2')).to.deep.include({ budget_amount: '20', budget_currency: 'EUR', spent: { USD: '1.2501', EUR: '3' } });
    await h.given(recorded('agent-a2', 'AgentBudgetSet', { agentId: 'a2', budget: null }, { at: at(9) }));
    const row = await agent('a2');
    expect(row).to.deep.include({ budget_amount: null, budget_currency: null, spent: { USD: '1.2501', EUR: '3' } });
    expect(row!.updated_at).to.deep.equal(new Date(at(9)));
  });

  it('follows a run from start through tool calls to completion in one batch', async () => {
    await h.given(
      registered('a3', usd('5')),
      started('a3', 'r31', { dealId: 'd1', budgetCurrency: 'USD' }),
      toolCalled('a3', 'r31', 't1', { output: { hits: 3 }, durationMs: 420 }),
      toolCalled('a3', 'r31', 't2', { error: 'timeout' }, 3),
      completed('a3', 'r31', usd('0.42')),
      spend('a3', 'r31', usd('0.42'), usd('0.42')),
    );
    expect(await run('r31')).to.deep.equal({
      run_id: 'r31',
      agent_id: 'a3',
      deal_id: 'd1',
      goal: 'Goal r31',
      status: 'completed',
      started_by_kind: 'agent',
      started_by_id: 'scout',
      tool_calls: 2,
      tokens_input: '100',
      tokens_output: '20',
      cost_amount: '0.42',
      cost_currency: 'USD',
      summary: 'Done r31',
      error: null,
      started_at: new Date(at(1)),
      ended_at: new Date(at(5)),
      last_activity_at: new Date(at(5)),
    });
    const calls = await toolCalls('r31');
    expect(calls).to.deep.equal([
      { run_id: 'r31', revision: '1', tool_call_id: 't1', tool: 'web_search', input: { q: 't1' }, output: { hits: 3 }, error: null, duration_ms: '420', at: new Date(at(2)) },
      { run_id: 'r31', revision: '2', tool_call_id: 't2', tool: 'web_search', input: { q: 't2' }, output: null, error: 'timeout', duration_ms: null, at: new Date(at(3)) },
    ]);
    expect(await agent('a3')).to.deep.include({ runs_running: 0, runs_completed: 1, runs_failed: 0, tokens_input: '100', tokens_output: '20', spent: { USD: '0.42' } });
  });

  it('follows runs split across batches, counting running, completed and failed runs and their tokens', async () => {
    await h.given(registered('a4'), started('a4', 'r41'), started('a4', 'r42'), started('a4', 'r43'));
    expect(await agent('a4')).to.deep.include({ runs_running: 3, runs_completed: 0, runs_failed: 0 });

    await h.given(toolCalled('a4', 'r41', 't1'), toolCalled('a4', 'r42', 't1'));
    await h.given(toolCalled('a4', 'r41', 't2', {}, 4), completed('a4', 'r41', usd('1')), failed('a4', 'r42'));
    await h.given(failed('a4', 'r43', usd('0.05')));

    expect(await run('r41')).to.deep.include({ status: 'completed', tool_calls: 2, last_activity_at: new Date(at(5)) });
    expect(await run('r42')).to.deep.include({
      status: 'failed',
      tool_calls: 1,
      error: 'rate limited',
      summary: null,
      cost_amount: null,
      cost_currency: null,
      tokens_input: '7',
      ended_at: new Date(at(6)),
    });
    expect(await run('r43')).to.deep.include({ status: 'failed', tool_calls: 0, cost_amount: '0.05', cost_currency: 'USD' });
    expect((await toolCalls('r41')).map((call) => call.tool_call_id)).to.deep.equal(['t1', 't2']);
    expect(await agent('a4')).to.deep.include({ runs_running: 0, runs_completed: 1, runs_failed: 2, tokens_input: '114', tokens_output: '20' });
  });

  it('keeps every recorded tool call, even one reusing an id, and counts an ended run once', async () => {
    await h.given(registered('a5'), started('a5', 'r51'), toolCalled('a5', 'r51', 'same'), toolCalled('a5', 'r51', 'same', {}, 3));
    await h.given(completed('a5', 'r51', usd('1')), failed('a5', 'r51'));
    expect((await toolCalls('r51')).map((call) => call.tool_call_id)).to.deep.equal(['same', 'same']);
    expect(await run('r51')).to.deep.include({ status: 'completed', tool_calls: 2, error: null });
    expect(await agent('a5')).to.deep.include({ runs_running: 0, runs_completed: 1, runs_failed: 0, tokens_input: '100' });
  });
});
