import { z } from 'zod';
import { agentRunDecider } from '../../domain/agents/agent-run.decider.js';
import { agentDecider } from '../../domain/agents/agent.decider.js';
import { Tokens, agentRunStreamId, agentStreamId, type AgentRunEvent } from '../../domain/agents/agent.events.js';
import { dealDecider } from '../../domain/deals/deal.decider.js';
import { CanonicalMoney } from '../../domain/shared/money.js';
import type { Position } from '../../eventstore/contract.js';
import { isAdmin, type Principal } from '../../auth/principal.js';
import { NotFoundError } from '../../domain/shared/errors.js';
import { commandRoute, type CommandContext, type PathParams } from '../../http/command-route.js';
import { loadStream, type CommandResult } from '../handle-command.js';
import { settleRunCost } from './settle-run-cost.js';

const Name = z.string().trim().min(1).max(200);
const Capability = z.string().trim().min(1).max(100);

export const RegisterAgentBody = z.strictObject({
  name: Name,
  model: Name,
  capabilities: z.array(Capability).max(100).default([]),
  budget: CanonicalMoney.optional(),
});
export const SetAgentBudgetBody = z.strictObject({ budget: CanonicalMoney.nullable() });
export const StartAgentRunBody = z.strictObject({ goal: z.string().trim().min(1).max(2000), dealId: z.uuid().optional() });
export const RecordToolCallBody = z.strictObject({
  toolCallId: z.string().trim().min(1).max(200).optional(),
  tool: z.string().trim().min(1).max(200),
  input: z.record(z.string(), z.unknown()).default({}),
  output: z.unknown().optional(),
  error: z.string().max(10_000).optional(),
  durationMs: z.number().int().min(0).optional(),
});
export const CompleteAgentRunBody = z.strictObject({ summary: z.string().trim().min(1).max(10_000), tokens: Tokens, cost: CanonicalMoney });
export const FailAgentRunBody = z.strictObject({
  error: z.string().trim().min(1).max(10_000),
  tokens: Tokens.default({ input: 0, output: 0 }),
  cost: CanonicalMoney.optional(),
});

const agent = { decider: agentDecider, streamId: (id: string) => agentStreamId(id) };
const run = { decider: agentRunDecider, streamId: (id: string, params: Record<string, string>) => agentRunStreamId(params.agentId!, id) };
const runners = ['admin', 'agent'] as const;

/** An agent principal runs its own agent only; admins run any. Others' agents are answered as unknown. */
function ownAgent(principal: Principal, params: PathParams): void {
  if (!isAdmin(principal) && principal.agentId !== params.agentId) throw new NotFoundError('AGENT.NOT_FOUND', 'No such agent');
}
const ownRuns = { roles: [...runners], authorize: ownAgent };

/** The agent commands under /api: registration, budgets, and runs with their tool calls and outcome. */
export const agentCommands = [
  commandRoute({
    ...agent,
    method: 'post',
    path: '/agents',
    summary: 'Register an agent with its name, model, capabilities and an optional cost budget',
    roles: ['admin'],
    body: RegisterAgentBody,
    location: (id) => `/api/agents/${id}`,
    command: (body, { id, metadata }) => ({ type: 'RegisterAgent' as const, data: { agentId: id, ...body }, metadata }),
  }),
  commandRoute({
    ...agent,
    method: 'post',
    path: '/agents/:id/budget',
    summary: "Set, change or remove (null) an agent's cost budget",
    roles: ['admin'],
    body: SetAgentBudgetBody,
    command: (data, { metadata }) => ({ type: 'SetAgentBudget' as const, data, metadata }),
  }),
  commandRoute({
    ...run,
    method: 'post',
    path: '/agents/:agentId/runs',
    summary: "Start a run, optionally on a deal, with a goal; refused once the agent's budget is spent",
    ...ownRuns,
    body: StartAgentRunBody,
    location: (id, params) => `/api/agents/${params.agentId}/runs/${id}`,
    command: async (body, { id, params, metadata, eventStore, streams }) => {
      const agentId = params.agentId!;
      const loaded = await loadStream(eventStore, agentStreamId(agentId), agentDecider, streams);
      const deal = body.dealId ? (await loadStream(eventStore, `deal-${body.dealId}`, dealDecider, streams)).state : undefined;
      return { type: 'StartAgentRun' as const, data: { agentId, runId: id, ...body, agent: loaded.state, ...(deal ? { deal } : {}) }, metadata };
    },
  }),
  commandRoute({
    ...run,
    method: 'post',
    path: '/agents/:agentId/runs/:id/tool-calls',
    summary: 'Record a tool call of a running run',
    ...ownRuns,
    body: RecordToolCallBody,
    command: ({ toolCallId, ...call }, { metadata }) => ({
      type: 'RecordAgentToolCall' as const,
      data: { toolCallId: toolCallId ?? metadata.causationId, ...call },
      metadata,
    }),
  }),
  commandRoute({
    ...run,
    method: 'post',
    path: '/agents/:agentId/runs/:id/complete',
    summary: "Complete a run with its summary, tokens and cost; the cost is settled on the agent's budget",
    ...ownRuns,
    body: CompleteAgentRunBody,
    command: (data, { metadata }) => ({ type: 'CompleteAgentRun' as const, data, metadata }),
    followUp: settleOutcome,
  }),
  commandRoute({
    ...run,
    method: 'post',
    path: '/agents/:agentId/runs/:id/fail',
    summary: "Fail a run with the error, and the tokens and cost it used; the cost is settled on the agent's budget",
    ...ownRuns,
    body: FailAgentRunBody,
    command: (data, { metadata }) => ({ type: 'FailAgentRun' as const, data, metadata }),
    followUp: settleOutcome,
  }),
];

/** The route's follow-up: the outcome just recorded is settled at once (see settleRunCost). */
async function settleOutcome(result: CommandResult<AgentRunEvent>, { metadata, eventStore, streams }: CommandContext): Promise<Position | null> {
  const outcome = result.events.find((event) => event.type === 'AgentRunCompleted' || event.type === 'AgentRunFailed');
  return outcome ? settleRunCost(eventStore, outcome, metadata, streams) : null;
}
