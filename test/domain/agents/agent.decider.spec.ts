import { expect } from 'chai';
import { agentDecider, type AgentCommand } from '../../../src/domain/agents/agent.decider.js';
import type { AgentEvent } from '../../../src/domain/agents/agent.events.js';
import { budgetExhausted } from '../../../src/domain/agents/agent.state.js';
import type { Actor, CommandMetadata } from '../../../src/domain/shared/event.js';
import { deciderSpec } from '../../support/decider-spec.js';

const given = deciderSpec(agentDecider);
const agentId = 'agent-1';
const at = '2026-11-22T10:00:00.000Z';
const admin: Actor = { kind: 'user', id: 'root' };
const by = (actor: Actor): CommandMetadata => ({ actor, now: at, correlationId: 'c', causationId: 'r' });
const meta = { actor: admin, correlationId: 'c', causationId: 'r', occurredAt: at, schemaVersion: 1 };
const usd = (amount: string) => ({ amount, currency: 'USD' });
const cmd = (type: AgentCommand['type'], data: object) => ({ type, data, metadata: by(admin) }) as AgentCommand;

const registered = (budget?: { amount: string; currency: string }): AgentEvent => ({
  type: 'AgentRegistered',
  data: { agentId, name: 'Scout', model: 'gpt-5', capabilities: ['research'], ...(budget ? { budget } : {}) },
  metadata: meta,
});
const spend = (runId: string, cost: string, spent: string): AgentEvent => ({
  type: 'AgentSpendRecorded', data: { agentId, runId, cost: usd(cost), spent: usd(spent) }, metadata: meta,
});
const stateAfter = (events: AgentEvent[]) => events.reduce(agentDecider.evolve, agentDecider.initialState);

describe('Agent decider', () => {
  describe('RegisterAgent', () => {
    it('registers an agent with a name, model, capabilities and an optional budget', () =>
      given([])
        .when(cmd('RegisterAgent', { agentId, name: 'Scout', model: 'gpt-5', capabilities: ['research'], budget: usd('100') }))
        .then([registered(usd('100'))]));
    it('registers an agent without a budget: no limit', () => {
      given([]).when(cmd('RegisterAgent', { agentId, name: 'Scout', model: 'gpt-5', capabilities: ['research'] })).then([registered()]);
      expect(budgetExhausted(stateAfter([registered(), spend('r1', '1000000', '1000000')]))).to.equal(false);
    });
    it('refuses to register the same agent twice', () =>
      given([registered()])
        .when(cmd('RegisterAgent', { agentId, name: 'Scout', model: 'gpt-5', capabilities: [] }))
        .thenThrows('AGENT.ALREADY_EXISTS', 409));
  });

  describe('SetAgentBudget', () => {
    it('sets, changes and removes the budget', () => {
      given([registered()]).when(cmd('SetAgentBudget', { budget: usd('50') })).then([{ type: 'AgentBudgetSet', data: { agentId, budget: usd('50') }, metadata: meta }]);
      given([registered(usd('50'))]).when(cmd('SetAgentBudget', { budget: null })).then([{ type: 'AgentBudgetSet', data: { agentId, budget: null }, metadata: meta }]);
    });
    it('records nothing when the budget is unchanged', () => {
      given([registered(usd('50'))]).when(cmd('SetAgentBudget', { budget: usd('50.00') })).then([]);
      given([registered()]).when(cmd('SetAgentBudget', { budget: null })).then([]);
    });
    it('refuses an unknown agent', () => given([]).when(cmd('SetAgentBudget', { budget: null })).thenThrows('AGENT.NOT_FOUND', 404));
  });

  describe('RecordAgentSpend (the ledger)', () => {
    it("adds a run's cost to what the agent has spent, exactly", () =>
      given([registered(usd('1')), spend('r1', '0.1', '0.1')])
        .when(cmd('RecordAgentSpend', { runId: 'r2', cost: usd('0.2') }))
        .then([spend('r2', '0.2', '0.3')]));
    it('records nothing for a run that cost nothing', () => given([registered()]).when(cmd('RecordAgentSpend', { runId: 'r1', cost: usd('0') })).then([]));
    it('the budget is exhausted once spend reaches it, and open again when raised', () => {
      const history = [registered(usd('1')), spend('r1', '0.6', '0.6')];
      expect(budgetExhausted(stateAfter(history))).to.equal(false);
      history.push(spend('r2', '0.4', '1'));
      expect(budgetExhausted(stateAfter(history))).to.equal(true);
      history.push({ type: 'AgentBudgetSet', data: { agentId, budget: usd('2') }, metadata: meta });
      expect(budgetExhausted(stateAfter(history))).to.equal(false);
    });
    it('refuses an unknown agent', () => given([]).when(cmd('RecordAgentSpend', { runId: 'r1', cost: usd('1') })).thenThrows('AGENT.NOT_FOUND', 404));
  });
});
