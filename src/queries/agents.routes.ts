import type { Knex } from 'knex';
import { z } from 'zod';
import { NotFoundError } from '../domain/shared/errors.js';
import { Actor, Amount, Currency, Id, Money, Timestamp, amountOf, moneyOf, pageOf } from './answers.js';
import { Limit, cursorOf, iso, isoTime, keysetPage } from './pagination.js';
import { queryRoute } from './query-route.js';

type Row = Record<string, unknown>;

const reads = ['agents'];
const IdFilter = z.string().trim().min(1).max(200);
const RunStatus = z.enum(['running', 'completed', 'failed']);
/** How many of its latest runs an agent's page shows. */
const RECENT_RUNS = 20;

const ActivityQuery = z.strictObject({
  agentId: IdFilter.optional(),
  dealId: IdFilter.optional(),
  status: RunStatus.optional(),
  limit: Limit,
  cursor: cursorOf(z.tuple([z.iso.datetime(), z.string()])).optional(),
});
const AgentsQuery = z.strictObject({ limit: Limit, cursor: cursorOf(z.tuple([z.string(), z.string()])).optional() });
const NoQuery = z.strictObject({});

const Tokens = z.strictObject({ input: z.number().int().min(0), output: z.number().int().min(0) });

const Agent = z
  .strictObject({
    agentId: Id,
    name: z.string(),
    model: z.string(),
    capabilities: z.array(z.string()),
    budget: Money.nullable().describe('Its cost budget; null without one'),
    spent: Money.nullable().describe("What it spent in its budget's currency (null without a budget); spentByCurrency has every currency"),
    budgetLeft: Amount.nullable().describe("What is left of its budget, in the budget's currency, never below 0 (null without a budget)"),
    spentByCurrency: z.record(Currency, Amount).describe('What it spent, per currency'),
    runs: z.strictObject({ running: z.number().int().min(0), completed: z.number().int().min(0), failed: z.number().int().min(0), total: z.number().int().min(0) }),
    tokens: Tokens.describe('Tokens used by its ended runs'),
    registeredAt: Timestamp,
    updatedAt: Timestamp,
  })
  .meta({ id: 'Agent', description: 'An agent with its budget, spend and run counts' });

const ToolCall = z
  .strictObject({
    toolCallId: z.string(),
    tool: z.string(),
    input: z.record(z.string(), z.unknown()),
    output: z.unknown().describe('What the tool answered, as recorded (null when none was)'),
    error: z.string().nullable(),
    durationMs: z.number().int().min(0).nullable(),
    at: Timestamp,
  })
  .meta({ id: 'ToolCall', description: 'One tool call of a run' });

const AgentRun = z
  .strictObject({
    runId: Id,
    agentId: Id,
    agentName: z.string().nullable(),
    dealId: Id.nullable(),
    goal: z.string(),
    status: RunStatus,
    startedBy: Actor,
    toolCallCount: z.number().int().min(0),
    tokens: Tokens,
    cost: Money.nullable().describe('Once ended: what the run cost (null while running, or a failed run that reported none)'),
    summary: z.string().nullable().describe('A completed run: its summary'),
    error: z.string().nullable().describe('A failed run: its error'),
    startedAt: Timestamp,
    endedAt: Timestamp.nullable(),
    lastActivityAt: Timestamp,
  })
  .meta({ id: 'AgentRun', description: 'One run of an agent' });

const AgentRunWithToolCalls = AgentRun.extend({ toolCalls: z.array(ToolCall).describe('Every tool call, in the order recorded') }).meta({
  id: 'AgentRunWithToolCalls',
  description: 'One run of an agent with its tool calls',
});

const AgentWithRuns = Agent.extend({ recentRuns: z.array(AgentRunWithToolCalls).describe('Its latest runs, newest first') }).meta({
  id: 'AgentWithRuns',
  description: 'An agent with its latest runs',
});

type Run = z.infer<typeof AgentRun>;
type RunWithToolCalls = z.infer<typeof AgentRunWithToolCalls>;

/** Runs with their agent's name. */
function runs(knex: Knex): Knex.QueryBuilder {
  return knex('read.agent_runs as r').leftJoin('read.agents as a', 'a.agent_id', 'r.agent_id').select('r.*', 'a.name as agent_name');
}

/**
 * Agents with what is left of their budget (null without one), subtracted in numeric: exact. Never
 * below zero: a run started under the budget may cost more than was left, which `spent` shows.
 */
function agents(knex: Knex): Knex.QueryBuilder {
  return knex('read.agents').select(
    '*',
    knex.raw('CASE WHEN budget_amount IS NOT NULL THEN GREATEST(budget_amount - COALESCE((spent ->> budget_currency)::numeric, 0), 0) END AS budget_left'),
  );
}

/** Each run's tool calls, in the order they were recorded. */
async function toolCallsOf(knex: Knex, runIds: string[]): Promise<Map<string, z.infer<typeof ToolCall>[]>> {
  const rows = (await knex('read.agent_tool_calls').whereIn('run_id', runIds).orderBy(['run_id', 'revision'])) as Row[];
  const byRun = new Map<string, z.infer<typeof ToolCall>[]>(runIds.map((id) => [id, []]));
  for (const row of rows) byRun.get(row.run_id as string)!.push(toToolCall(row));
  return byRun;
}

async function withToolCalls(knex: Knex, rows: Row[]): Promise<RunWithToolCalls[]> {
  const calls = await toolCallsOf(knex, rows.map((row) => row.run_id as string));
  return rows.map((row) => ({ ...toRun(row), toolCalls: calls.get(row.run_id as string) ?? [] }));
}

function toAgent(row: Row): z.infer<typeof Agent> {
  const spent = row.spent as Record<string, string>;
  const currency = row.budget_currency as string | null;
  const running = row.runs_running as number;
  const completed = row.runs_completed as number;
  const failed = row.runs_failed as number;
  return {
    agentId: row.agent_id as string,
    name: row.name as string,
    model: row.model as string,
    capabilities: row.capabilities as string[],
    budget: moneyOf(row.budget_amount, currency),
    spent: currency === null ? null : { amount: amountOf(spent[currency] ?? '0'), currency },
    budgetLeft: row.budget_left === null ? null : amountOf(row.budget_left),
    spentByCurrency: Object.fromEntries(Object.entries(spent).map(([code, amount]) => [code, amountOf(amount)])),
    runs: { running, completed, failed, total: running + completed + failed },
    tokens: { input: Number(row.tokens_input), output: Number(row.tokens_output) },
    registeredAt: isoTime(row.registered_at),
    updatedAt: isoTime(row.updated_at),
  };
}

function toRun(row: Row): Run {
  return {
    runId: row.run_id as string,
    agentId: row.agent_id as string,
    agentName: row.agent_name as string | null,
    dealId: row.deal_id as string | null,
    goal: row.goal as string,
    status: row.status as Run['status'],
    startedBy: { kind: row.started_by_kind as Actor['kind'], id: row.started_by_id as string },
    toolCallCount: row.tool_calls as number,
    tokens: { input: Number(row.tokens_input), output: Number(row.tokens_output) },
    cost: moneyOf(row.cost_amount, row.cost_currency),
    summary: row.summary as string | null,
    error: row.error as string | null,
    startedAt: isoTime(row.started_at),
    endedAt: iso(row.ended_at),
    lastActivityAt: isoTime(row.last_activity_at),
  };
}

function toToolCall(row: Row): z.infer<typeof ToolCall> {
  return {
    toolCallId: row.tool_call_id as string,
    tool: row.tool as string,
    input: row.input as Record<string, unknown>,
    output: row.output,
    error: row.error as string | null,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    at: isoTime(row.at),
  };
}

/** The agent activity read model under /api: every authenticated role may read it. */
export const agentQueries = [
  queryRoute({
    path: '/agent/activity',
    summary: 'Agent runs across agents, newest first, filtered by agent, deal or status',
    query: ActivityQuery,
    response: pageOf(AgentRun),
    reads,
    handler: async ({ agentId, dealId, status, limit, cursor }, { knex }) => {
      const query = runs(knex);
      if (agentId) query.where('r.agent_id', agentId);
      if (dealId) query.where('r.deal_id', dealId);
      if (status) query.where('r.status', status);
      const page = await keysetPage<Row>(query, { sort: 'r.started_at', tiebreak: 'r.run_id', direction: 'desc', cursor, limit, keys: ['started_at', 'run_id'] });
      return { items: page.items.map(toRun), nextCursor: page.nextCursor };
    },
  }),
  queryRoute({
    path: '/agents',
    summary: 'Agents by name, with their budget, spend, budget left and run counts',
    query: AgentsQuery,
    response: pageOf(Agent),
    reads,
    handler: async ({ limit, cursor }, { knex }) => {
      const page = await keysetPage<Row>(agents(knex), { sort: 'name', tiebreak: 'agent_id', direction: 'asc', cursor, limit, keys: ['name', 'agent_id'] });
      return { items: page.items.map(toAgent), nextCursor: page.nextCursor };
    },
  }),
  queryRoute({
    path: '/agents/:id',
    summary: `An agent with its budget, spend and its ${RECENT_RUNS} latest runs with their tool calls`,
    query: NoQuery,
    response: AgentWithRuns,
    reads,
    handler: async (_query, { knex, params }) => {
      const agent = (await agents(knex).where('agent_id', params.id).first()) as Row | undefined;
      if (!agent) throw new NotFoundError('AGENT.NOT_FOUND', 'No such agent');
      const recent = (await runs(knex)
        .where('r.agent_id', params.id)
        .orderBy([{ column: 'r.started_at', order: 'desc' }, { column: 'r.run_id', order: 'desc' }])
        .limit(RECENT_RUNS)) as Row[];
      return { ...toAgent(agent), recentRuns: await withToolCalls(knex, recent) };
    },
  }),
  queryRoute({
    path: '/agents/:agentId/runs/:id',
    summary: 'One run of an agent with all its tool calls in order',
    query: NoQuery,
    response: AgentRunWithToolCalls,
    reads,
    handler: async (_query, { knex, params }) => {
      const run = (await runs(knex).where({ 'r.run_id': params.id, 'r.agent_id': params.agentId }).first()) as Row | undefined;
      if (!run) throw new NotFoundError('AGENT.RUN_NOT_FOUND', 'No such run');
      const [withCalls] = await withToolCalls(knex, [run]);
      return withCalls!;
    },
  }),
];
