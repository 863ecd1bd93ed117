import type { Knex } from 'knex';
import { z } from 'zod';
import { DealStage } from '../domain/deals/deal.events.js';
import { NotFoundError } from '../domain/shared/errors.js';
import type { OnBehalfOf } from '../domain/shared/event.js';
import { Limit, cursorOf, iso, keysetPage } from './pagination.js';
import { queryRoute } from './query-route.js';

const Decimal = z.string().regex(/^\d{1,15}(\.\d{1,4})?$/, 'must be a decimal such as "250000.00"');
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
const OPEN_ACTION_STATUSES = ['AwaitingApproval', 'Approved', 'Executing'];
const STAGE_ORDER = DealStage.options;

/** The deal queries: the list a UI filters, one deal in full, and the pipeline. */
export const dealQueries = [
  queryRoute({
    path: '/deals',
    summary: 'Deals filtered by stage, owner, tag, text and amount; each with its pending approvals and last activity',
    query: ListDealsQuery,
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
      const page = await keysetPage<DealRow>(rows, {
        sort, tiebreak: 'd.deal_id', direction: query.order, limit: query.limit, keys: [sort.slice('d.'.length), 'deal_id'], ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return { items: page.items.map(dealSummary), nextCursor: page.nextCursor };
    },
  }),
  queryRoute({
    path: '/deals/:id',
    summary: 'One deal with its stage history, notes, open actions and recent events',
    query: z.strictObject({}),
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
        jsonRows(knex, 'open_actions', `SELECT action_id, kind, title, status, risk, proposed_at, expires_at FROM read.actions
                                    WHERE deal_id = d.deal_id AND status IN (${OPEN_ACTION_STATUSES.map((status) => `'${status}'`).join(', ')})`, 'proposed_at DESC'),
        jsonRows(knex, 'recent_events', 'SELECT position, type, actor_kind, actor_id, occurred_at, summary FROM read.recent_events WHERE deal_id = d.deal_id ORDER BY position DESC LIMIT 20', 'position DESC'),
      ).options({ name: 'ds_deal_detail' })) as (DealRow & DealLists) | undefined;
      if (!row) throw new NotFoundError('DEAL.NOT_FOUND', 'No such deal');
      return {
        ...dealSummary(row),
        stageHistory: row.stage_history.map((step) => ({ from: step.from_stage, to: step.to_stage, reason: step.reason, by: step.actor_id, onBehalfOf: (step.on_behalf_of as unknown as OnBehalfOf | null) ?? null, at: iso(step.at) })),
        notes: row.notes.map((note) => ({ id: note.note_id, text: note.text, authorId: note.author_id, at: iso(note.at) })),
        openActions: row.open_actions.map((action) => ({
          id: action.action_id, kind: action.kind, title: action.title, status: action.status, risk: action.risk, proposedAt: iso(action.proposed_at), expiresAt: iso(action.expires_at),
        })),
        recentEvents: row.recent_events.map((event) => ({ position: event.position, type: event.type, actor: { kind: event.actor_kind, id: event.actor_id }, occurredAt: iso(event.occurred_at), summary: event.summary })),
      };
    },
  }),
  queryRoute({
    path: '/pipeline',
    summary: 'The pipeline: number of deals and total amount per stage and currency',
    query: z.strictObject({ currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"').optional() }),
    reads: ['deals'],
    handler: async (query, { knex }) => {
      const rows = knex('read.pipeline').where('deals', '>', 0).select<{ stage: string; currency: string; deals: string; total: string }[]>('*');
      if (query.currency) rows.where('currency', query.currency);
      const stages = (await rows)
        .map((row) => ({ stage: row.stage, currency: row.currency, deals: Number(row.deals), total: decimal(row.total) }))
        .sort((a, b) => STAGE_ORDER.indexOf(a.stage as never) - STAGE_ORDER.indexOf(b.stage as never) || a.currency.localeCompare(b.currency));
      return { stages };
    },
  }),
];

interface DealRow extends Record<string, unknown> {
  deal_id: string;
  amount: string;
  pending_approvals: number;
  last_activity_at: Date;
}

type JsonRow = Record<string, string | null>;
interface DealLists {
  stage_history: JsonRow[];
  notes: JsonRow[];
  open_actions: JsonRow[];
  recent_events: JsonRow[];
}

/** The rows of a correlated subquery as one JSON array, in the given order. */
function jsonRows(knex: Knex, name: string, subquery: string, orderBy: string) {
  const order = orderBy.replace(/^(\w+)/, 'r.$1');
  return knex.raw(`(SELECT coalesce(json_agg(r ORDER BY ${order}), '[]') FROM (${subquery}) r) AS ${name}`);
}

function pendingApprovals(knex: Knex) {
  return knex('read.actions as a').count('*').whereRaw('a.deal_id = d.deal_id').andWhere('a.status', 'AwaitingApproval').as('pending_approvals');
}

/** The deal's own last change, or a later event of one of its actions. */
function lastActivity(knex: Knex) {
  return knex.raw('greatest(d.updated_at, (SELECT max(a.updated_at) FROM read.actions a WHERE a.deal_id = d.deal_id)) AS last_activity_at');
}

function dealSummary(row: DealRow) {
  return {
    id: row.deal_id,
    name: row.name,
    company: row.company,
    amount: { amount: decimal(row.amount), currency: row.currency },
    ownerId: row.owner_id,
    tags: row.tags,
    stage: row.stage,
    status: row.status,
    ...(row.lost_from ? { lostFrom: row.lost_from } : {}),
    notesCount: row.notes_count,
    pendingApprovals: Number(row.pending_approvals),
    revision: String(row.revision),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    lastActivityAt: iso(row.last_activity_at),
  };
}

/** numeric(19,4) comes back as "1250000.5000"; answer "1250000.50"-style strings without trailing zeros past cents. */
function decimal(value: string): string {
  const [whole, fraction = ''] = value.split('.');
  const trimmed = fraction.replace(/0+$/, '').padEnd(2, '0');
  return `${whole}.${trimmed}`;
}
