import type { AgentRunEvent } from './agent.events.js';

export type AgentRunState =
  | { status: 'none' }
  | {
      status: 'running' | 'completed' | 'failed';
      agentId: string;
      runId: string;
      dealId?: string;
      budgetCurrency?: string;
      toolCalls: number;
      /** When the run last did something: a watchdog fails runs that stay silent too long. */
      lastActivityAt: string;
    };

export const initialAgentRunState: AgentRunState = { status: 'none' };

export function evolveAgentRun(state: AgentRunState, event: AgentRunEvent): AgentRunState {
  const at = event.metadata.occurredAt;
  switch (event.type) {
    case 'AgentRunStarted': {
      const { agentId, runId, dealId, budgetCurrency } = event.data;
      return { status: 'running', agentId, runId, ...(dealId ? { dealId } : {}), ...(budgetCurrency ? { budgetCurrency } : {}), toolCalls: 0, lastActivityAt: at };
    }
    case 'AgentToolCalled':
      return state.status === 'none' ? state : { ...state, toolCalls: state.toolCalls + 1, lastActivityAt: at };
    case 'AgentRunCompleted':
      return state.status === 'none' ? state : { ...state, status: 'completed', lastActivityAt: at };
    case 'AgentRunFailed':
      return state.status === 'none' ? state : { ...state, status: 'failed', lastActivityAt: at };
    default: {
      const _exhaustive: never = event;
      return state;
    }
  }
}
