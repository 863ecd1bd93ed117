import type { z } from 'zod';
import { ActionEventSchemas } from '../../domain/actions/action.events.js';
import { AgentEventSchemas, AgentRunEventSchemas, agentRunStreamId, agentStreamId } from '../../domain/agents/agent.events.js';
import { DealEventSchemas } from '../../domain/deals/deal.events.js';
import type { OnBehalfOf } from '../../domain/shared/event.js';
import { canonicalAmount, type Money } from '../../domain/shared/money.js';
import type { RecordedEvent } from '../../eventstore/contract.js';
import type { Projection, TableRows } from '../runtime/projection.js';

const SCHEMAS = { ...DealEventSchemas, ...ActionEventSchemas, ...AgentEventSchemas, ...AgentRunEventSchemas };
type EventType = keyof typeof SCHEMAS;
type DataOf<Type extends EventType> = z.infer<(typeof SCHEMAS)[Type]>;

/** Every event type of the domain, taken from the schemas so that a new type is not forgotten. */
export const TIMELINE_EVENT_TYPES = Object.keys(SCHEMAS) as EventType[];
export const TIMELINE_CATEGORIES = ['deal', 'action', 'agent'] as const;

/** What the timeline learns of a stream from its first events: the deal it concerns and a name for it. */
type Learned = {
  deal_id: string | null;
  /** A deal's name, an action's title, an agent's name, a run's goal. */
  label: string;
};
type StreamRow = Learned & { stream_id: string };

const LEARNS: { [Type in EventType]?: (data: DataOf<Type>) => Learned | undefined } = {
  DealCreated: (data) => ({ deal_id: data.dealId, label: data.name }),
  DealUpdated: (data) => (data.name ? { deal_id: data.dealId, label: data.name } : undefined),
  ActionProposed: (data) => ({ deal_id: data.dealId, label: data.title }),
  AgentRegistered: (data) => ({ deal_id: null, label: data.name }),
  AgentRunStarted: (data) => ({ deal_id: data.dealId ?? null, label: data.goal }),
};

interface SummaryContext {
  actor: string;
  /** The stored label of this stream (as it was before the event), or of another. */
  label(streamId?: string): string;
}

/** In the canonical form every answer uses, whatever form the event was given. */
const money = (value: Money) => `${canonicalAmount(value.amount)} ${value.currency}`;
/** Free text (titles, goals, reasons) shortened so that a summary stays one line. */
const clip = (text: string) => (text.length > 80 ? `${text.slice(0, 79)}…` : text);
const quote = (text: string) => `"${clip(text)}"`;

const SUMMARIES: { [Type in EventType]: (data: DataOf<Type>, context: SummaryContext) => string } = {
  DealCreated: (d, { actor }) => `${actor} created ${d.name} (${d.company}, ${money(d.amount)})`,
  DealUpdated: ({ dealId: _, ...changed }, { actor, label }) => `${actor} updated ${label()} (${Object.keys(changed).join(', ')})`,
  DealOwnerAssigned: (d, { actor, label }) => `${actor} made ${d.ownerId} the owner of ${label()}`,
  DealNoteAdded: (_d, { actor, label }) => `${actor} added a note to ${label()}`,
  DealStageChanged: (d, { actor, label }) => `${actor} moved ${label()} from ${d.from} to ${d.to}`,
  DealClosed: (d, { actor, label }) => `${actor} closed ${label()} as ${d.outcome}`,
  DealReopened: (d, { actor, label }) => `${actor} reopened ${label()} in ${d.stage}`,
  ActionProposed: (d, { actor, label }) => `${actor} proposed ${quote(d.title)} on ${label(`deal-${d.dealId}`)}`,
  ActionRiskAssessed: (d, { label }) => `${quote(label())} was assessed as ${d.risk} risk`,
  ActionApprovalRequested: (d, { label }) =>
    `${quote(label())} needs ${d.approvalsRequired} approval${d.approvalsRequired === 1 ? '' : 's'} by ${d.expiresAt}`,
  ActionApprovalGiven: (d, { label }) => `${d.approverId} approved ${quote(label())}`,
  ActionApproved: (d, { label }) => `${quote(label())} was approved by ${d.by === 'policy' ? 'policy' : d.approverIds.join(', ')}`,
  ActionRejected: (d, { label }) => `${d.rejectedBy} rejected ${quote(label())}: ${clip(d.reason)}`,
  ActionExpired: (_d, { label }) => `${quote(label())} expired without approval`,
  ActionCancelled: (d, { label }) => `${d.cancelledBy} cancelled ${quote(label())}`,
  ActionExecutionStarted: (d, { actor, label }) => `${actor} started executing ${quote(label())} (attempt ${d.attempt})`,
  ActionExecuted: (d, { actor, label }) => `${actor} executed ${quote(label())} (attempt ${d.attempt})`,
  ActionExecutionFailed: (d, { actor, label }) =>
    `${actor} failed to execute ${quote(label())} (attempt ${d.attempt}${d.final ? ', final' : ''}): ${clip(d.error)}`,
  ActionExecutionRetried: (d, { label }) => `${d.retriedBy} had ${quote(label())} executed again${d.reason ? `: ${clip(d.reason)}` : ''}`,
  AgentRegistered: (d, { actor }) => `${actor} registered agent ${d.name} (${d.model})`,
  AgentBudgetSet: (d, { actor, label }) => (d.budget ? `${actor} set the budget of ${label()} to ${money(d.budget)}` : `${actor} removed the budget of ${label()}`),
  AgentSpendRecorded: (d, { label }) =>
    `${label()} spent ${money(d.cost)} on ${quote(label(agentRunStreamId(d.agentId, d.runId)))} (${money(d.spent)} in total)`,
  AgentRunStarted: (d, { actor, label }) =>
    `${actor} started ${label(agentStreamId(d.agentId))} on ${quote(d.goal)}${d.dealId ? ` for ${label(`deal-${d.dealId}`)}` : ''}`,
  AgentToolCalled: (d, { actor, label }) => `${actor} called ${d.tool}${d.error ? ' (failed)' : ''} in ${quote(label())}`,
  AgentRunCompleted: (d, { actor, label }) => `${actor} completed ${quote(label())} (${money(d.cost)})`,
  AgentRunFailed: (d, { label }) => `${quote(label())} failed: ${clip(d.error)}`,
};

/** The streams whose stored rows an event needs: its own, and those its summary or deal come from. */
function streamsNeeded(event: RecordedEvent): string[] {
  const { dealId, agentId, runId } = event.data;
  const needed = [event.streamId];
  if (typeof dealId === 'string') needed.push(`deal-${dealId}`);
  if (typeof agentId === 'string') needed.push(agentStreamId(agentId));
  if (typeof agentId === 'string' && typeof runId === 'string') needed.push(agentRunStreamId(agentId, runId));
  return needed;
}

/** Deal events and proposals name their deal; the later events of a stream inherit it. A run's cost concerns the run's deal. */
function dealOf(event: RecordedEvent, streams: TableRows<StreamRow>): string | null {
  const { dealId, agentId, runId } = event.data;
  if (typeof dealId === 'string') return dealId;
  if (event.type === 'AgentSpendRecorded') return streams.get(agentRunStreamId(String(agentId), String(runId)))?.deal_id ?? null;
  return streams.get(event.streamId)?.deal_id ?? null;
}

/** Who did it: a worker acting for an approved action says so, and who approved it. */
function actorOf(id: string, onBehalfOf: OnBehalfOf | undefined): string {
  if (!onBehalfOf) return id;
  const approvers = onBehalfOf.approvedBy === 'policy' ? 'the policy' : onBehalfOf.approverIds.join(' and ');
  return `${id} (for action ${onBehalfOf.actionId}, approved by ${approvers})`;
}

function timelineRow(event: RecordedEvent, streams: TableRows<StreamRow>): Record<string, unknown> {
  const type = event.type as EventType;
  const actor = event.metadata.actor as { kind: string; id: string };
  const label = (streamId = event.streamId) => streams.get(streamId)?.label ?? streamId;
  const summary = SUMMARIES[type](event.data as never, { actor: actorOf(actor.id, event.metadata.onBehalfOf as OnBehalfOf | undefined), label });
  const learned = LEARNS[type]?.(event.data as never);
  if (learned) streams.set({ stream_id: event.streamId, ...learned });
  return {
    position: event.position,
    event_id: event.id,
    stream_id: event.streamId,
    category: event.streamId.split('-', 1)[0],
    type: event.type,
    deal_id: dealOf(event, streams),
    actor_kind: actor.kind,
    actor_id: actor.id,
    occurred_at: event.metadata.occurredAt,
    recorded_at: event.recordedAt,
    summary,
    data: event.data,
  };
}

/** The recent-events timeline: every domain event with its deal and a one-line summary, newest first by position. */
export const timelineProjection: Projection = {
  name: 'timeline',
  // 2: rows hold each event's data in its type's current shape (DealClosed version 2), old events too.
  // 3: amounts in summaries in their canonical form ("25000000 USD", not "25000000.00 USD").
  version: 3,
  eventTypes: TIMELINE_EVENT_TYPES,
  tables: ['recent_events', 'timeline_streams'],
  async createTables(trx, schema) {
    await trx.schema.withSchema(schema).createTable('recent_events', (table) => {
      table.specificType('position', 'text COLLATE "C"').primary(); // string order = log order
      table.uuid('event_id').notNullable();
      table.text('stream_id').notNullable();
      table.text('category').notNullable();
      table.text('type').notNullable();
      table.text('deal_id');
      table.text('actor_kind').notNullable();
      table.text('actor_id').notNullable();
      table.timestamp('occurred_at', { useTz: true }).notNullable();
      table.timestamp('recorded_at', { useTz: true }).notNullable();
      table.text('summary').notNullable();
      table.jsonb('data').notNullable();
    });
    for (const column of ['deal_id', 'category', 'type']) {
      await trx.raw('CREATE INDEX ?? ON ??.recent_events (??, position DESC)', [`recent_events_${column}_position`, schema, column]);
    }
    await trx.schema.withSchema(schema).createTable('timeline_streams', (table) => {
      table.text('stream_id').primary();
      table.text('deal_id');
      table.text('label').notNullable();
    });
  },
  async apply(events, target) {
    const streams = target.rows<StreamRow>('timeline_streams', 'stream_id');
    await streams.load(events.flatMap(streamsNeeded));
    const rows = events.map((event) => timelineRow(event, streams));
    target.insert('recent_events', rows, { conflict: ['position'] });
  },
};
