import type { Knex } from 'knex';
import { z } from 'zod';
import { NotFoundError } from '../domain/shared/errors.js';
import { Limit, cursorOf, iso, keysetPage } from './pagination.js';
import { queryRoute } from './query-route.js';

type Row = Record<string, unknown>;

const reads = ['agents'];
const Id = z.string().trim().min(1).max(200);
/** How many of its latest runs an agent's page shows. */
const RECENT_RUNS = 20;

const ActivityQuery = z.strictObject({
  agentId: Id.optional(),
  dealId: Id.optional(),
  status: z.enum(['running', 'completed', 'failed']).optional(),
  limit: Limit,
  cursor: cursorOf(z.tuple([z.iso.datetime(), z.string()])).optional(),
});
const AgentsQuery = z.strictObject({ limit: Limit, cursor: cursorOf(z.tuple([z.string(), z.string()])).optional() });
const NoQuery = z.strictObject({});

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
async function toolCallsOf(knex: Knex, runIds: string[]): Promise<Map<string, object[]>> {
  const rows = (await knex('read.agent_tool_calls').whereIn('run_id', runIds).orderBy(['run_id', 'revision'])) as Row[];
  const byRun = new Map<string, object[]>(runIds.map((id) => [id, []]));
  for (const row of rows) byRun.get(row.run_id as string)!.push(toToolCall(row));
  return byRun;
}

async function withToolCalls(knex: Knex, rows: Row[]): Promise<object[]> {
  const calls = await toolCallsOf(knex, rows.map((row) => row.run_id as string));
  return rows.map((row) => ({ ...toRun(row), toolCalls: calls.get(row.run_id as string) }));
}

const money = (amount: unknown, currency: unknown) => (amount === null ? null : { amount: amount as string, currency: currency as string });

function toAgent(row: Row) {
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
    budget: money(row.budget_amount, currency),
    /** In the budget's currency; every currency's total is in spentByCurrency. */
    spent: currency === null ? null : { amount: spent[currency] ?? '0', currency },
    budgetLeft: row.budget_left as string | null,
    spentByCurrency: spent,
    runs: { running, completed, failed, total: running + completed + failed },
    tokens: { input: Number(row.tokens_input), output: Number(row.tokens_output) },
    registeredAt: iso(row.registered_at),
    updatedAt: iso(row.updated_at),
  };
}

function toRun(row: Row) {
  return {
    runId: row.run_id as string,
    agentId: row.agent_id as string,
    agentName: row.agent_name as string | null,
    dealId: row.deal_id as string | null,
    goal: row.goal as string,
    status: row.status as string,
    startedBy: { kind: row.started_by_kind as string, id: row.started_by_id as string },
    toolCallCount: row.tool_calls as number,
    tokens: { input: Number(row.tokens_input), output: Number(row.tokens_output) },
    cost: money(row.cost_amount, row.cost_currency),
    summary: row.summary as string | null,
    error: row.error as string | null,
    startedAt: iso(row.started_at),
    endedAt: iso(row.ended_at),
    lastActivityAt: iso(row.last_activity_at),
  };
}

function toToolCall(row: Row) {
  return {
    toolCallId: row.tool_call_id as string,
    tool: row.tool as string,
    input: row.input,
    output: row.output,
    error: row.error as string | null,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    at: iso(row.at),
  };
}

/** The agent activity read model under /api: every authenticated role may read it. */
export const agentQueries = [
  queryRoute({
    path: '/agent/activity',
    summary: 'Agent runs across agents, newest first, filtered by agent, deal or status',
    query: ActivityQuery,
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
    reads,
    handler: async (_query, { knex, params }) => {
      const run = (await runs(knex).where({ 'r.run_id': params.id, 'r.agent_id': params.agentId }).first()) as Row | undefined;
      if (!run) throw new NotFoundError('AGENT.RUN_NOT_FOUND', 'No such run');
      const [withCalls] = await withToolCalls(knex, [run]);
      return withCalls;
    },
  }),
];
