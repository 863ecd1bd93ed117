import type { Knex } from 'knex';
import { z } from 'zod';
import { RISKS } from '../domain/actions/risk-policy.js';
import { DealStage, OPEN_STAGES } from '../domain/deals/deal.events.js';
import { NotFoundError } from '../domain/shared/errors.js';
import { OnBehalfOf } from '../domain/shared/event.js';
import { ActionStatus, Approvals, answeredStatus, approvalsGivenSql, approvalsOf, storedStatuses, type ApprovalRow } from './action-answers.js';
import { Actor, Amount, Currency, Id, Money, Revision, Timestamp, amountOf, pageOf } from './answers.js';
import { Limit, cursorOf, iso, isoTime, keysetPage } from './pagination.js';
import { queryRoute } from './query-route.js';
import { TIMELINE_EVENT_TYPES } from '../projections/timeline/timeline.projection.js';

const Decimal = z.string().regex(/^\d{1,15}(\.\d{1,4})?$/, 'must be a decimal such as "250000" or "12.5"');
const csv = <T extends z.ZodType<unknown, string>>(item: T) => z.string().transform((value) => value.split(',').map((part) => part.trim())).pipe(z.array(item).min(1));

export const ListDealsQuery = z.strictObject({
  stage: csv(DealStage).optional(),
  owner: z.string().min(1).max(200).optional(),
  tag: z.string().min(1).max(50).optional(),
  /** Text in the name or the company. */
  q: z.string().trim().min(1).max(200).optional(),
  minAmount: Decimal.optional(),
  maxAmount: Decimal.optional(),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"').optional(),
  sort: z.enum(['created', 'updated', 'amount']).default('created'),
  order: z.enum(['asc', 'desc']).default('desc'),
  limit: Limit,
  cursor: cursorOf(z.tuple([z.string(), z.string()])).optional(),
}).superRefine((query, context) => {
  // The cursor holds the sort key of the last row: a time or an amount, as the sort says.
  const key = query.cursor?.[0];
  const valid = key === undefined || (query.sort === 'amount' ? /^\d+(\.\d+)?$/.test(key) : z.iso.datetime().safeParse(key).success);
  if (!valid) context.addIssue({ code: 'custom', path: ['cursor'], message: `must be a nextCursor of a page sorted by ${query.sort}` });
});

const SORT_COLUMNS = { created: 'd.created_at', updated: 'd.updated_at', amount: 'd.amount' } as const;
/** Named, not d.*: a prepared statement's columns must not change under it when a rebuild swaps the views. */
const DEAL_COLUMNS = ['deal_id', 'name', 'company', 'amount', 'currency', 'owner_id', 'tags', 'stage', 'status', 'lost_from', 'notes_count', 'revision', 'created_at', 'updated_at'].map((column) => `d.${column}`);
const OPEN_ACTION_STATUSES = storedStatuses('awaiting_approval', 'approved', 'executing');
const STAGE_ORDER = DealStage.options;

const DealSummary = z
  .strictObject({
    id: Id,
    name: z.string(),
    company: z.string(),
    amount: Money,
    ownerId: z.string().describe('The principal id of the owner'),
    tags: z.array(z.string()),
    stage: DealStage,
    status: z.enum(['open', 'won', 'lost']),
    lostFrom: z.enum(OPEN_STAGES).optional().describe('Only on a lost deal: the stage it was lost from (and reopens into)'),
    notesCount: z.number().int().min(0),
    pendingApprovals: z.number().int().min(0).describe('How many of its actions await approval'),
    revision: Revision,
    createdAt: Timestamp,
    updatedAt: Timestamp,
    lastActivityAt: Timestamp.describe("The deal's last change, or a later change of one of its actions"),
  })
  .meta({ id: 'DealSummary', description: 'A deal as the list shows it' });

/** What a worker acted for (event metadata `onBehalfOf`). */
const ActedFor = OnBehalfOf.meta({ id: 'OnBehalfOf', description: "An approved action and who approved it: 'policy' (no person needed) or the approvers' principal ids" });

const Deal = DealSummary.extend({
  stageHistory: z
    .array(
      z.strictObject({
        from: DealStage.nullable(),
        to: DealStage,
        reason: z.string().nullable(),
        by: z.string().describe('The principal id of who moved it (a worker process for a change an approved action made)'),
        onBehalfOf: ActedFor.nullable().describe('The approved action the change was made for, and who approved it; null for a change made directly'),
        at: Timestamp,
      }),
    )
    .describe('Every stage the deal went through, oldest first'),
  notes: z.array(z.strictObject({ id: z.string(), text: z.string(), authorId: z.string(), at: Timestamp })).describe('The latest 100 notes, newest first'),
  openActions: z
    .array(z.strictObject({ id: Id, kind: z.string(), title: z.string(), status: ActionStatus, risk: z.enum(RISKS), approvals: Approvals, proposedAt: Timestamp, expiresAt: Timestamp.nullable() }))
    .describe('Its actions awaiting approval, approved or executing, newest first'),
  recentEvents: z
    .array(z.strictObject({ position: z.string(), type: z.enum(TIMELINE_EVENT_TYPES), actor: Actor, occurredAt: Timestamp, summary: z.string() }))
    .describe('Its latest 20 events, newest first'),
}).meta({ id: 'Deal', description: 'One deal in full' });

const Pipeline = z
  .strictObject({
    stages: z.array(z.strictObject({ stage: DealStage, currency: Currency, deals: z.number().int().min(1), total: Amount })).describe('In stage order, then by currency; stages without deals are left out'),
  })
  .meta({ id: 'Pipeline', description: 'Number of deals and total amount per stage and currency' });

/** The deal queries: the list a UI filters, one deal in full, and the pipeline. */
export const dealQueries = [
  queryRoute({
    path: '/deals',
    summary: 'Deals filtered by stage, owner, tag, text and amount; each with its pending approvals and last activity',
    query: ListDealsQuery,
    response: pageOf(DealSummary),
    reads: ['deals', 'actions'],
    handler: async (query, { knex }) => {
      const sort = SORT_COLUMNS[query.sort];
      const rows = knex('read.deals as d').select('d.*', pendingApprovals(knex), lastActivity(knex));
      if (query.stage) rows.whereIn('d.stage', query.stage);
      if (query.owner) rows.where('d.owner_id', query.owner);
      if (query.tag) rows.whereRaw('d.tags @> ARRAY[?]::text[]', [query.tag]);
      if (query.q) {
        const pattern = `%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        rows.where((text) => text.whereILike('d.name', pattern).orWhereILike('d.company', pattern));
      }
      if (query.minAmount) rows.where('d.amount', '>=', query.minAmount);
      if (query.maxAmount) rows.where('d.amount', '<=', query.maxAmount);
      if (query.currency) rows.where('d.currency', query.currency);
      const found = await keysetPage<DealRow>(rows, {
        sort, tiebreak: 'd.deal_id', direction: query.order, limit: query.limit, keys: [sort.slice('d.'.length), 'deal_id'], ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return { items: found.items.map(dealSummary), nextCursor: found.nextCursor };
    },
  }),
  queryRoute({
    path: '/deals/:id',
    summary: 'One deal with its stage history, notes, open actions and recent events',
    query: z.strictObject({}),
    response: Deal,
    reads: ['deals', 'actions', 'timeline'],
    handler: async (_query, { knex, params }) => {
      // One statement: the deal, and its lists as JSON arrays (times in them come as text).
      // Prepared once per connection: planning it took longer than running it.
      const row = (await knex('read.deals as d').where('d.deal_id', params.id!).first(
        ...DEAL_COLUMNS,
        pendingApprovals(knex),
        lastActivity(knex),
        jsonRows(knex, 'stage_history', 'SELECT from_stage, to_stage, reason, actor_id, on_behalf_of, at, revision FROM read.deal_stage_history WHERE deal_id = d.deal_id', 'revision'),
        jsonRows(knex, 'notes', 'SELECT note_id, text, author_id, at, revision FROM read.deal_notes WHERE deal_id = d.deal_id ORDER BY revision DESC LIMIT 100', 'revision DESC'),
        jsonRows(knex, 'open_actions', `SELECT a.action_id, a.kind, a.title, a.status, a.risk, a.approvals_required, ${approvalsGivenSql('a.action_id')}, a.proposed_at, a.expires_at
                                    FROM read.actions a WHERE a.deal_id = d.deal_id AND a.status IN (${OPEN_ACTION_STATUSES.map((status) => `'${status}'`).join(', ')})`, 'proposed_at DESC'),
        jsonRows(knex, 'recent_events', 'SELECT position, type, actor_kind, actor_id, occurred_at, summary FROM read.recent_events WHERE deal_id = d.deal_id ORDER BY position DESC LIMIT 20', 'position DESC'),
      ).options({ name: 'ds_deal_detail' })) as (DealRow & DealLists) | undefined;
      if (!row) throw new NotFoundError('DEAL.NOT_FOUND', 'No such deal');
      return {
        ...dealSummary(row),
        stageHistory: row.stage_history.map((step) => ({ from: step.from_stage, to: step.to_stage, reason: step.reason, by: step.actor_id, onBehalfOf: step.on_behalf_of ?? null, at: isoTime(step.at) })),
        notes: row.notes.map((note) => ({ id: note.note_id, text: note.text, authorId: note.author_id, at: isoTime(note.at) })),
        openActions: row.open_actions.map((action) => ({
          id: action.action_id,
          kind: action.kind,
          title: action.title,
          status: answeredStatus(action.status),
          risk: action.risk,
          approvals: approvalsOf(action.approvals_required, action.approvals_given),
          proposedAt: isoTime(action.proposed_at),
          expiresAt: iso(action.expires_at),
        })),
        recentEvents: row.recent_events.map((event) => ({ position: event.position, type: event.type, actor: { kind: event.actor_kind, id: event.actor_id }, occurredAt: isoTime(event.occurred_at), summary: event.summary })),
      };
    },
  }),
  queryRoute({
    path: '/pipeline',
    summary: 'The pipeline: number of deals and total amount per stage and currency',
    query: z.strictObject({ currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"').optional() }),
    response: Pipeline,
    reads: ['deals'],
    handler: async (query, { knex }) => {
      const rows = knex('read.pipeline').where('deals', '>', 0).select<{ stage: DealStage; currency: string; deals: string; total: string }[]>('*');
      if (query.currency) rows.where('currency', query.currency);
      const stages = (await rows)
        .map((row) => ({ stage: row.stage, currency: row.currency, deals: Number(row.deals), total: amountOf(row.total) }))
        .sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage) || a.currency.localeCompare(b.currency));
      return { stages };
    },
  }),
];

interface DealRow extends Record<string, unknown> {
  deal_id: string;
  name: string;
  company: string;
  amount: string;
  currency: string;
  owner_id: string;
  tags: string[];
  stage: DealStage;
  status: 'open' | 'won' | 'lost';
  lost_from: (typeof OPEN_STAGES)[number] | null;
  notes_count: number;
  revision: string;
  created_at: Date;
  updated_at: Date;
  pending_approvals: number | string;
  last_activity_at: Date;
}

/** The rows of the detail's lists, as JSON: times are text. */
interface DealLists {
  stage_history: { from_stage: DealStage | null; to_stage: DealStage; reason: string | null; actor_id: string; on_behalf_of: OnBehalfOf | null; at: string }[];
  notes: { note_id: string; text: string; author_id: string; at: string }[];
  open_actions: {
    action_id: string; kind: string; title: string; status: string; risk: (typeof RISKS)[number];
    approvals_required: number; approvals_given: ApprovalRow[]; proposed_at: string; expires_at: string | null;
  }[];
  recent_events: { position: string; type: (typeof TIMELINE_EVENT_TYPES)[number]; actor_kind: Actor['kind']; actor_id: string; occurred_at: string; summary: string }[];
}

/** The rows of a correlated subquery as one JSON array, in the given order. */
function jsonRows(knex: Knex, name: string, subquery: string, orderBy: string) {
  const order = orderBy.replace(/^(\w+)/, 'r.$1');
  return knex.raw(`(SELECT coalesce(json_agg(r ORDER BY ${order}), '[]') FROM (${subquery}) r) AS ${name}`);
}

function pendingApprovals(knex: Knex) {
  return knex('read.actions as a').count('*').whereRaw('a.deal_id = d.deal_id').whereIn('a.status', storedStatuses('awaiting_approval')).as('pending_approvals');
}

/** The deal's own last change, or a later event of one of its actions. */
function lastActivity(knex: Knex) {
  return knex.raw('greatest(d.updated_at, (SELECT max(a.updated_at) FROM read.actions a WHERE a.deal_id = d.deal_id)) AS last_activity_at');
}

function dealSummary(row: DealRow): z.infer<typeof DealSummary> {
  return {
    id: row.deal_id,
    name: row.name,
    company: row.company,
    amount: { amount: amountOf(row.amount), currency: row.currency },
    ownerId: row.owner_id,
    tags: row.tags,
    stage: row.stage,
    status: row.status,
    ...(row.lost_from ? { lostFrom: row.lost_from } : {}),
    notesCount: row.notes_count,
    pendingApprovals: Number(row.pending_approvals),
    revision: String(row.revision),
    createdAt: isoTime(row.created_at),
    updatedAt: isoTime(row.updated_at),
    lastActivityAt: isoTime(row.last_activity_at),
  };
}
