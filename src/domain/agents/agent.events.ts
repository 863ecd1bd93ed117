import { z } from 'zod';
import { Actor, type DomainEvent } from '../shared/event.js';
import { Money } from '../shared/money.js';

export const Tokens = z.object({ input: z.number().int().min(0), output: z.number().int().min(0) });
export type Tokens = z.infer<typeof Tokens>;

/**
 * Events of an agent's own stream (`agent-<agentId>`): its registration, its budget, and a ledger
 * of what its runs cost. The spend lives here because here the next run start is decided.
 */
export const AgentEventSchemas = {
  AgentRegistered: z.object({
    agentId: z.string(),
    name: z.string(),
    model: z.string(),
    capabilities: z.array(z.string()),
    /** No run starts once the runs' costs reach it; absent: no limit. */
    budget: Money.optional(),
  }),
  AgentBudgetSet: z.object({ agentId: z.string(), budget: Money.nullable() }),
  /** A finished run's cost, settled on the ledger; `spent` is the new total in that currency. */
  AgentSpendRecorded: z.object({ agentId: z.string(), runId: z.string(), cost: Money, spent: Money }),
} as const;

/** Events of one run's stream (`agent-<agentId>-run-<runId>`): its start, its tool calls, its outcome. */
export const AgentRunEventSchemas = {
  AgentRunStarted: z.object({
    agentId: z.string(),
    runId: z.string(),
    dealId: z.string().optional(),
    goal: z.string(),
    startedBy: Actor,
    /** The budget's currency when the run started: costs are reported in it. */
    budgetCurrency: z.string().optional(),
  }),
  AgentToolCalled: z.object({
    agentId: z.string(),
    runId: z.string(),
    toolCallId: z.string(),
    tool: z.string(),
    input: z.record(z.string(), z.unknown()),
    output: z.unknown().optional(),
    error: z.string().optional(),
    durationMs: z.number().int().min(0).optional(),
  }),
  AgentRunCompleted: z.object({ agentId: z.string(), runId: z.string(), summary: z.string(), tokens: Tokens, cost: Money }),
  AgentRunFailed: z.object({ agentId: z.string(), runId: z.string(), error: z.string(), tokens: Tokens, cost: Money.optional() }),
} as const;

type Events<Schemas extends Record<string, z.ZodType>> = {
  [Type in keyof Schemas & string]: DomainEvent<Type, z.infer<Schemas[Type]>>;
}[keyof Schemas & string];
export type AgentEvent = Events<typeof AgentEventSchemas>;
export type AgentRunEvent = Events<typeof AgentRunEventSchemas>;

export const agentStreamId = (agentId: string) => `agent-${agentId}`;
export const agentRunStreamId = (agentId: string, runId: string) => `agent-${agentId}-run-${runId}`;
