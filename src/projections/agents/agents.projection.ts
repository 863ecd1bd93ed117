import type { Knex } from 'knex';
import { AgentEventSchemas, AgentRunEventSchemas, type AgentEvent, type AgentRunEvent } from '../../domain/agents/agent.events.js';
import type { RecordedEvent } from '../../eventstore/contract.js';
import type { Projection, ProjectionTarget, TableRows } from '../runtime/projection.js';

type RunStatus = 'running' | 'completed' | 'failed';
type Timestamp = Date | string;

/** Token totals are bigint columns: kept as decimal strings so they add up exactly. */
interface AgentRow extends Record<string, unknown> {
  agent_id: string;
  name: string;
  model: string;
  capabilities: string[];
  budget_amount: string | null;
  budget_currency: string | null;
  /** The ledger's running total per currency: { "USD": "1.42" }. */
  spent: Record<string, string>;
  runs_running: number;
  runs_completed: number;
  runs_failed: number;
  tokens_input: string;
  tokens_output: string;
  registered_at: Timestamp;
  updated_at: Timestamp;
}

interface RunRow extends Record<string, unknown> {
  run_id: string;
  agent_id: string;
  deal_id: string | null;
  goal: string;
  status: RunStatus;
  started_by_kind: string;
  started_by_id: string;
  tool_calls: number;
  tokens_input: string;
  tokens_output: string;
  cost_amount: string | null;
  cost_currency: string | null;
  summary: string | null;
  error: string | null;
  started_at: Timestamp;
  ended_at: Timestamp | null;
  last_activity_at: Timestamp;
}

interface ToolCall extends Record<string, unknown> {
  run_id: string;
  /** The call's revision in the run's stream: orders the calls, and keys them even if a client reuses a toolCallId. */
  revision: string;
  tool_call_id: string;
  tool: string;
  input: unknown;
  output?: unknown;
  error: string | null;
  duration_ms: number | null;
  at: string;
}

async function createTables(trx: Knex.Transaction, schema: string): Promise<void> {
  await trx.raw(`
    CREATE TABLE ??.agents (
      agent_id         text PRIMARY KEY,
      name             text        NOT NULL,
      model            text        NOT NULL,
      capabilities     text[]      NOT NULL,
      budget_amount    numeric,
      budget_currency  text,
      spent            jsonb       NOT NULL,
      runs_running     int         NOT NULL,
      runs_completed   int         NOT NULL,
      runs_failed      int         NOT NULL,
      tokens_input     bigint      NOT NULL,
      tokens_output    bigint      NOT NULL,
      registered_at    timestamptz NOT NULL,
      updated_at       timestamptz NOT NULL
    );
    CREATE INDEX ON ??.agents (name, agent_id);

    CREATE TABLE ??.agent_runs (
      run_id           text PRIMARY KEY,
      agent_id         text        NOT NULL,
      deal_id          text,
      goal             text        NOT NULL,
      status           text        NOT NULL,
      started_by_kind  text        NOT NULL,
      started_by_id    text        NOT NULL,
      tool_calls       int         NOT NULL,
      tokens_input     bigint      NOT NULL,
      tokens_output    bigint      NOT NULL,
      cost_amount      numeric,
      cost_currency    text,
      summary          text,
      error            text,
      started_at       timestamptz NOT NULL,
      ended_at         timestamptz,
      last_activity_at timestamptz NOT NULL
    );
    CREATE INDEX ON ??.agent_runs (started_at, run_id);
    CREATE INDEX ON ??.agent_runs (agent_id, started_at, run_id);
    CREATE INDEX ON ??.agent_runs (deal_id, started_at, run_id) WHERE deal_id IS NOT NULL;
    CREATE INDEX ON ??.agent_runs (status, started_at, run_id);

    CREATE TABLE ??.agent_tool_calls (
      run_id           text        NOT NULL,
      revision         bigint      NOT NULL,
      tool_call_id     text        NOT NULL,
      tool             text        NOT NULL,
      input            jsonb       NOT NULL,
      output           jsonb,
      error            text,
      duration_ms      bigint,
      at               timestamptz NOT NULL,
      PRIMARY KEY (run_id, revision)
    );
  `, Array<string>(8).fill(schema));
}

/** The batch's working set: the agent and run rows it touches, and the tool calls it adds. */
interface Batch {
  agents: TableRows<AgentRow>;
  runs: TableRows<RunRow>;
  toolCalls: ToolCall[];
}

type Event = (AgentEvent | AgentRunEvent) & Pick<RecordedEvent, 'revision'>;

async function apply(recordedEvents: readonly RecordedEvent[], target: ProjectionTarget): Promise<void> {
  // Stored facts passed the schemas on the way in: read them as the domain types.
  const events = recordedEvents as unknown as readonly Event[];
  const batch: Batch = {
    agents: target.rows<AgentRow>('agents', 'agent_id'),
    runs: target.rows<RunRow>('agent_runs', 'run_id'),
    toolCalls: [],
  };
  await batch.agents.load(events.map((event) => event.data.agentId));
  await batch.runs.load(events.flatMap((event) => ('runId' in event.data ? [event.data.runId] : [])));
  for (const event of events) applyEvent(event, batch);
  target.insert('agent_tool_calls', batch.toolCalls, { conflict: ['run_id', 'revision'] });
}

function applyEvent(event: Event, { agents, runs, toolCalls }: Batch): void {
  const at = event.metadata.occurredAt;
  const agent = agents.get(event.data.agentId);
  const updateAgent = (change: Partial<AgentRow>) => agent && agents.set({ ...agent, ...change, updated_at: at });
  const run = 'runId' in event.data ? runs.get(event.data.runId) : undefined;

  switch (event.type) {
    case 'AgentRegistered': {
      const { agentId, name, model, capabilities, budget } = event.data;
      agents.set({
        agent_id: agentId,
        name,
        model,
        capabilities,
        budget_amount: budget?.amount ?? null,
        budget_currency: budget?.currency ?? null,
        spent: {},
        runs_running: 0,
        runs_completed: 0,
        runs_failed: 0,
        tokens_input: '0',
        tokens_output: '0',
        registered_at: at,
        updated_at: at,
      });
      return;
    }
    case 'AgentBudgetSet': {
      const { budget } = event.data;
      updateAgent({ budget_amount: budget?.amount ?? null, budget_currency: budget?.currency ?? null });
      return;
    }
    case 'AgentSpendRecorded': {
      const { spent } = event.data;
      if (agent) updateAgent({ spent: { ...agent.spent, [spent.currency]: spent.amount } });
      return;
    }
    case 'AgentRunStarted': {
      const { agentId, runId, dealId, goal, startedBy } = event.data;
      runs.set({
        run_id: runId,
        agent_id: agentId,
        deal_id: dealId ?? null,
        goal,
        status: 'running',
        started_by_kind: startedBy.kind,
        started_by_id: startedBy.id,
        tool_calls: 0,
        tokens_input: '0',
        tokens_output: '0',
        cost_amount: null,
        cost_currency: null,
        summary: null,
        error: null,
        started_at: at,
        ended_at: null,
        last_activity_at: at,
      });
      if (agent) updateAgent({ runs_running: agent.runs_running + 1 });
      return;
    }
    case 'AgentToolCalled': {
      const { runId, toolCallId, tool, input, output, error, durationMs } = event.data;
      toolCalls.push({
        run_id: runId,
        revision: String(event.revision),
        tool_call_id: toolCallId,
        tool,
        input,
        output,
        error: error ?? null,
        duration_ms: durationMs ?? null,
        at,
      });
      if (run) runs.set({ ...run, tool_calls: run.tool_calls + 1, last_activity_at: at });
      return;
    }
    case 'AgentRunCompleted':
    case 'AgentRunFailed': {
      // The decider lets a run end once; a run not running here has nothing left to count.
      if (run?.status !== 'running') return;
      const { tokens, cost } = event.data;
      const status = event.type === 'AgentRunCompleted' ? 'completed' : 'failed';
      runs.set({
        ...run,
        status,
        tokens_input: String(tokens.input),
        tokens_output: String(tokens.output),
        cost_amount: cost?.amount ?? null,
        cost_currency: cost?.currency ?? null,
        summary: event.type === 'AgentRunCompleted' ? event.data.summary : null,
        error: event.type === 'AgentRunFailed' ? event.data.error : null,
        ended_at: at,
        last_activity_at: at,
      });
      if (agent) {
        updateAgent({
          runs_running: agent.runs_running - 1,
          ...(status === 'completed' ? { runs_completed: agent.runs_completed + 1 } : { runs_failed: agent.runs_failed + 1 }),
          tokens_input: addIntegers(agent.tokens_input, tokens.input),
          tokens_output: addIntegers(agent.tokens_output, tokens.output),
        });
      }
      return;
    }
    default: {
      const _exhaustive: never = event;
      return;
    }
  }
}

function addIntegers(total: string, amount: number): string {
  return String(BigInt(total) + BigInt(amount));
}

/** Agent activity: agents with their budget, spend and run counts; runs with their tool calls. */
export const agentsProjection: Projection = {
  name: 'agents',
  version: 1,
  eventTypes: [...Object.keys(AgentEventSchemas), ...Object.keys(AgentRunEventSchemas)],
  tables: ['agents', 'agent_runs', 'agent_tool_calls'],
  createTables,
  apply,
};
