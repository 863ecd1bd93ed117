import { compareDecimals, type Money } from '../shared/money.js';
import type { AgentEvent } from './agent.events.js';

export type AgentState =
  | { status: 'none' }
  | {
      status: 'registered';
      agentId: string;
      name: string;
      model: string;
      capabilities: string[];
      budget: Money | null;
      /** What its runs have cost so far, per currency (decimal strings). */
      spent: Record<string, string>;
    };

export const initialAgentState: AgentState = { status: 'none' };

export function evolveAgent(state: AgentState, event: AgentEvent): AgentState {
  switch (event.type) {
    case 'AgentRegistered': {
      const { agentId, name, model, capabilities, budget } = event.data;
      return { status: 'registered', agentId, name, model, capabilities, budget: budget ?? null, spent: {} };
    }
    case 'AgentBudgetSet':
      return state.status === 'none' ? state : { ...state, budget: event.data.budget };
    case 'AgentSpendRecorded': {
      if (state.status === 'none') return state;
      const { spent } = event.data;
      return { ...state, spent: { ...state.spent, [spent.currency]: spent.amount } };
    }
    default: {
      const _exhaustive: never = event;
      return state;
    }
  }
}

/** Spent: the runs' costs have reached the budget, so no run may start. */
export function budgetExhausted(state: AgentState): boolean {
  if (state.status === 'none' || !state.budget) return false;
  return compareDecimals(state.spent[state.budget.currency] ?? '0', state.budget.amount) >= 0;
}
