import type { DealState } from '../deals/deal.state.js';
import { eventMetadata, type CommandMetadata, type Decider } from '../shared/event.js';
import { IllegalStateError, NotFoundError, ValidationError } from '../shared/errors.js';
import { compareDecimals, type Money } from '../shared/money.js';
import { stampingVersions } from '../upcasters.js';
import type { AgentRunEvent, Tokens } from './agent.events.js';
import { budgetExhausted, type AgentState } from './agent.state.js';
import { evolveAgentRun, initialAgentRunState, type AgentRunState } from './agent-run.state.js';

export type AgentRunCommand =
  | {
      type: 'StartAgentRun';
      /** `agent` and `deal` are loaded by the handler: the decider stays pure. */
      data: { agentId: string; runId: string; goal: string; dealId?: string; agent: AgentState; deal?: DealState };
      metadata: CommandMetadata;
    }
  | {
      type: 'RecordAgentToolCall';
      data: { toolCallId: string; tool: string; input: Record<string, unknown>; output?: unknown; error?: string; durationMs?: number };
      metadata: CommandMetadata;
    }
  | { type: 'CompleteAgentRun'; data: { summary: string; tokens: Tokens; cost: Money }; metadata: CommandMetadata }
  | { type: 'FailAgentRun'; data: { error: string; tokens: Tokens; cost?: Money }; metadata: CommandMetadata }
  /** Sent by the watchdog: fails a run that has done nothing for `idleMs`; harmless for any other. */
  | { type: 'TimeOutAgentRun'; data: { idleMs: number }; metadata: CommandMetadata };

type Run = Exclude<AgentRunState, { status: 'none' }>;

export function decideAgentRun(command: AgentRunCommand, state: AgentRunState): AgentRunEvent[] {
  const metadata = eventMetadata(command.metadata);
  if (command.type === 'StartAgentRun') {
    if (state.status !== 'none') throw new IllegalStateError('AGENT.RUN_EXISTS', 'The run has started already');
    const { agentId, runId, goal, dealId, agent, deal } = command.data;
    if (agent.status === 'none') throw new NotFoundError('AGENT.NOT_FOUND', 'No such agent');
    if (budgetExhausted(agent)) {
      throw new IllegalStateError('AGENT.BUDGET_EXHAUSTED', `The agent has spent its budget of ${agent.budget!.amount} ${agent.budget!.currency}`);
    }
    if (dealId && (!deal || deal.status === 'none')) throw new NotFoundError('DEAL.NOT_FOUND', 'No such deal');
    const budgetCurrency = agent.budget?.currency;
    return [
      {
        type: 'AgentRunStarted',
        data: { agentId, runId, ...(dealId ? { dealId } : {}), goal, startedBy: command.metadata.actor, ...(budgetCurrency ? { budgetCurrency } : {}) },
        metadata,
      },
    ];
  }
  if (state.status === 'none') throw new NotFoundError('AGENT.RUN_NOT_FOUND', 'No such run');
  if (command.type === 'TimeOutAgentRun') return timeOut(state, command.data.idleMs, command.metadata.now, metadata);
  assertRunning(state);
  const { agentId, runId } = state;

  switch (command.type) {
    case 'RecordAgentToolCall':
      return [{ type: 'AgentToolCalled', data: { agentId, runId, ...command.data }, metadata }];
    case 'CompleteAgentRun':
      assertCurrency(state, command.data.cost);
      return [{ type: 'AgentRunCompleted', data: { agentId, runId, ...command.data }, metadata }];
    case 'FailAgentRun':
      if (command.data.cost) assertCurrency(state, command.data.cost);
      return [{ type: 'AgentRunFailed', data: { agentId, runId, ...command.data }, metadata }];
    default: {
      const _exhaustive: never = command;
      throw new Error(`unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

/** A finished run, or one active within `idleMs` (a later watchdog watches that activity), stays as it is. */
function timeOut(state: Run, idleMs: number, now: string, metadata: ReturnType<typeof eventMetadata>): AgentRunEvent[] {
  if (state.status !== 'running' || Date.parse(now) - Date.parse(state.lastActivityAt) < idleMs) return [];
  const { agentId, runId } = state;
  const error = `timed out: no activity for ${Math.round(idleMs / 1000)} s since ${state.lastActivityAt}`;
  return [{ type: 'AgentRunFailed', data: { agentId, runId, error, tokens: { input: 0, output: 0 } }, metadata }];
}

function assertRunning(state: Run): void {
  if (state.status !== 'running') throw new IllegalStateError('AGENT.RUN_FINISHED', `The run has ${state.status}`);
}

/** A budgeted agent's costs count against the budget only in its currency. */
function assertCurrency(state: Run, cost: Money): void {
  if (state.budgetCurrency && cost.currency !== state.budgetCurrency && compareDecimals(cost.amount, '0') !== 0) {
    throw new ValidationError('AGENT.COST_CURRENCY', `Report this run's cost in ${state.budgetCurrency}, the currency of the agent's budget`, 'cost.currency');
  }
}

export const agentRunDecider: Decider<AgentRunCommand, AgentRunEvent, AgentRunState> = stampingVersions({
  snapshot: { name: 'agent-run', version: 1 },
  initialState: initialAgentRunState,
  evolve: evolveAgentRun,
  decide: decideAgentRun,
});
