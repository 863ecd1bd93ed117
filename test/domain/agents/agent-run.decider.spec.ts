import { agentRunDecider, type AgentRunCommand } from '../../../src/domain/agents/agent-run.decider.js';
import type { AgentRunEvent } from '../../../src/domain/agents/agent.events.js';
import type { AgentState } from '../../../src/domain/agents/agent.state.js';
import type { DealState } from '../../../src/domain/deals/deal.state.js';
import type { Actor, CommandMetadata } from '../../../src/domain/shared/event.js';
import { deciderSpec } from '../../support/decider-spec.js';

const given = deciderSpec(agentRunDecider);
const agentId = 'a1';
const runId = 'r1';
const at = '2026-11-22T10:00:00.000Z';
const scout: Actor = { kind: 'agent', id: 'scout' };
const by = (actor: Actor): CommandMetadata => ({ actor, now: at, correlationId: 'c', causationId: 'r' });
const meta = { actor: scout, correlationId: 'c', causationId: 'r', occurredAt: at, schemaVersion: 1 };
const usd = (amount: string) => ({ amount, currency: 'USD' });
const tokens = { input: 1200, output: 300 };
const cmd = (type: AgentRunCommand['type'], data: object) => ({ type, data, metadata: by(scout) }) as AgentRunCommand;

const agent = (budget: { amount: string; currency: string } | null = null, spent: Record<string, string> = {}): AgentState => ({
  status: 'registered', agentId, name: 'Scout', model: 'gpt-5', capabilities: ['research'], budget, spent,
});
const deal: DealState = {
  status: 'won', dealId: 'd1', name: 'Acme', company: 'Acme Ltd', amount: usd('10'), ownerId: 'ana', tags: [], stage: 'won',
};
const start = (data: object = {}) => cmd('StartAgentRun', { agentId, runId, goal: 'Research Acme', agent: agent(), ...data });
const started = (data: object = {}): AgentRunEvent => ({
  type: 'AgentRunStarted', data: { agentId, runId, goal: 'Research Acme', startedBy: scout, ...data }, metadata: meta,
});
const completed: AgentRunEvent = { type: 'AgentRunCompleted', data: { agentId, runId, summary: 'done', tokens, cost: usd('0.12') }, metadata: meta };

describe('Agent run decider', () => {
  describe('StartAgentRun', () => {
    it('starts a run with a goal, optionally on a deal', () => {
      given([]).when(start()).then([started()]);
      given([]).when(start({ dealId: 'd1', deal })).then([started({ dealId: 'd1' })]);
    });
    it("records the budget's currency, in which costs are then reported", () =>
      given([]).when(start({ agent: agent(usd('5'), { USD: '4.99' }) })).then([started({ budgetCurrency: 'USD' })]));
    it('refuses to start once the budget is spent', () =>
      given([]).when(start({ agent: agent(usd('5'), { USD: '5.00' }) })).thenThrows('AGENT.BUDGET_EXHAUSTED', 409));
    it('ignores spend in another currency than the budget', () =>
      given([]).when(start({ agent: agent(usd('5'), { EUR: '9' }) })).then([started({ budgetCurrency: 'USD' })]));
    it('refuses an unknown agent, an unknown deal and a second start', () => {
      given([]).when(start({ agent: { status: 'none' } })).thenThrows('AGENT.NOT_FOUND', 404);
      given([]).when(start({ dealId: 'd2', deal: { status: 'none' } })).thenThrows('DEAL.NOT_FOUND', 404);
      given([started()]).when(start()).thenThrows('AGENT.RUN_EXISTS', 409);
    });
  });

  describe('RecordAgentToolCall', () => {
    const call = { toolCallId: 't1', tool: 'web_search', input: { q: 'Acme revenue' }, output: { hits: 3 }, durationMs: 420 };
    it('records a tool call on a running run', () =>
      given([started()]).when(cmd('RecordAgentToolCall', call)).then([{ type: 'AgentToolCalled', data: { agentId, runId, ...call }, metadata: meta }]));
    it('refuses a tool call on an unknown or finished run', () => {
      given([]).when(cmd('RecordAgentToolCall', call)).thenThrows('AGENT.RUN_NOT_FOUND', 404);
      given([started(), completed]).when(cmd('RecordAgentToolCall', call)).thenThrows('AGENT.RUN_FINISHED', 409);
    });
  });

  describe('CompleteAgentRun and FailAgentRun', () => {
    it('completes a run with summary, tokens and cost', () =>
      given([started()]).when(cmd('CompleteAgentRun', { summary: 'done', tokens, cost: usd('0.12') })).then([completed]));
    it('fails a run with the error, tokens and cost', () =>
      given([started()])
        .when(cmd('FailAgentRun', { error: 'rate limited', tokens, cost: usd('0.01') }))
        .then([{ type: 'AgentRunFailed', data: { agentId, runId, error: 'rate limited', tokens, cost: usd('0.01') }, metadata: meta }]));
    it('ends a run once: completing or failing a finished run is refused', () => {
      given([started(), completed]).when(cmd('CompleteAgentRun', { summary: 'again', tokens, cost: usd('0') })).thenThrows('AGENT.RUN_FINISHED', 409);
      given([started(), completed]).when(cmd('FailAgentRun', { error: 'late', tokens, cost: usd('0') })).thenThrows('AGENT.RUN_FINISHED', 409);
    });
    it("refuses a cost in another currency than the agent's budget", () =>
      given([started({ budgetCurrency: 'USD' })])
        .when(cmd('CompleteAgentRun', { summary: 'done', tokens, cost: { amount: '1', currency: 'EUR' } }))
        .thenThrows('AGENT.COST_CURRENCY', 400));
  });

  describe('TimeOutAgentRun (the watchdog)', () => {
    const minute = 60_000;
    const later = (ms: number) => ({ type: 'TimeOutAgentRun', data: { idleMs: minute }, metadata: { ...by(scout), actor: { kind: 'worker', id: 'w1' }, now: new Date(Date.parse(at) + ms).toISOString() } }) as AgentRunCommand;
    const toolCalled = (occurredAt: string): AgentRunEvent => ({
      type: 'AgentToolCalled', data: { agentId, runId, toolCallId: 't1', tool: 'web_search', input: {} }, metadata: { ...meta, occurredAt },
    });
    it('fails a run silent for longer than the limit, as timed out', () =>
      given([started()])
        .when(later(minute + 1))
        .then([{
          type: 'AgentRunFailed',
          data: { agentId, runId, error: `timed out: no activity for 60 s since ${at}`, tokens: { input: 0, output: 0 } },
          metadata: { ...meta, actor: { kind: 'worker', id: 'w1' }, occurredAt: new Date(Date.parse(at) + minute + 1).toISOString() },
        }]));
    it('leaves a run alone that was active within the limit, or has finished', () => {
      given([started()]).when(later(minute - 1)).then([]);
      given([started(), toolCalled(new Date(Date.parse(at) + 30_000).toISOString())]).when(later(minute + 1)).then([]);
      given([started(), completed]).when(later(10 * minute)).then([]);
    });
    it('refuses an unknown run', () => given([]).when(later(minute)).thenThrows('AGENT.RUN_NOT_FOUND', 404));
  });
});
