import { eventMetadata, type CommandMetadata, type Decider } from '../shared/event.js';
import { IllegalStateError, NotFoundError } from '../shared/errors.js';
import { addDecimals, compareDecimals, type Money } from '../shared/money.js';
import { stampingVersions } from '../upcasters.js';
import type { AgentEvent } from './agent.events.js';
import { evolveAgent, initialAgentState, type AgentState } from './agent.state.js';

export type AgentCommand =
  | {
      type: 'RegisterAgent';
      data: { agentId: string; name: string; model: string; capabilities: string[]; budget?: Money };
      metadata: CommandMetadata;
    }
  | { type: 'SetAgentBudget'; data: { budget: Money | null }; metadata: CommandMetadata }
  /** Settles a finished run's cost on the agent's ledger. */
  | { type: 'RecordAgentSpend'; data: { runId: string; cost: Money }; metadata: CommandMetadata };

export function decideAgent(command: AgentCommand, state: AgentState): AgentEvent[] {
  const metadata = eventMetadata(command.metadata);
  if (command.type === 'RegisterAgent') {
    if (state.status !== 'none') throw new IllegalStateError('AGENT.ALREADY_EXISTS', 'The agent is registered already');
    const { budget, ...rest } = command.data;
    return [{ type: 'AgentRegistered', data: { ...rest, ...(budget ? { budget } : {}) }, metadata }];
  }
  if (state.status === 'none') throw new NotFoundError('AGENT.NOT_FOUND', 'No such agent');
  const agentId = state.agentId;

  switch (command.type) {
    case 'SetAgentBudget': {
      const { budget } = command.data;
      const same = budget === null ? state.budget === null : state.budget?.currency === budget.currency && compareDecimals(state.budget.amount, budget.amount) === 0;
      return same ? [] : [{ type: 'AgentBudgetSet', data: { agentId, budget }, metadata }];
    }
    case 'RecordAgentSpend': {
      const { runId, cost } = command.data;
      if (compareDecimals(cost.amount, '0') === 0) return [];
      const spent = { amount: addDecimals(state.spent[cost.currency] ?? '0', cost.amount), currency: cost.currency };
      return [{ type: 'AgentSpendRecorded', data: { agentId, runId, cost, spent }, metadata }];
    }
    default: {
      const _exhaustive: never = command;
      throw new Error(`unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

export const agentDecider: Decider<AgentCommand, AgentEvent, AgentState> = stampingVersions({
  snapshot: { name: 'agent', version: 1 },
  initialState: initialAgentState,
  evolve: evolveAgent,
  decide: decideAgent,
});
