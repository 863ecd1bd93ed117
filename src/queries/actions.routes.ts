import type { Knex } from 'knex';
import { z } from 'zod';
import { RISKS } from '../domain/actions/risk-policy.js';
import { NotFoundError } from '../domain/shared/errors.js';
import { hasRole, type Principal, type Role } from '../auth/principal.js';
import { ActionStatus, ActionStatusFilter, Approvals, answeredStatus, approvalsGivenSql, approvalsOf, storedStatuses, type ApprovalRow } from './action-answers.js';
import { Actor, Id, Money, Revision, Timestamp, moneyOf, pageOf } from './answers.js';
import { Limit, cursorOf, encodeCursor, iso, isoTime, keysetPage, type Page } from './pagination.js';
import { commaList } from './query-params.js';
import { queryRoute } from './query-route.js';

/** The roles the approve command admits (src/commands/actions/action.routes.ts). */
const APPROVER_ROLES: readonly Role[] = ['admin', 'approver'];

const Risk = z.enum(RISKS);
const RiskFilter = commaList((value) => (RISKS as readonly string[]).includes(value), `of ${RISKS.join(', ')}`);
const TimeAndId = z.tuple([z.iso.datetime(), z.string()]);

const ListActionsQuery = z.strictObject({
  dealId: z.uuid().optional(),
  status: ActionStatusFilter.optional(),
  risk: RiskFilter.optional(),
  kind: z.string().max(64).optional(),
  proposedBy: z.string().max(200).optional(),
  sort: z.enum(['proposed', 'updated']).default('proposed'),
  limit: Limit,
  cursor: cursorOf(TimeAndId).optional(),
});

const ApprovalQueueQuery = z.strictObject({
  dealId: z.uuid().optional(),
  risk: RiskFilter.optional(),
  limit: Limit,
  // Risk rank, then (proposed at, id): the queue sorts by three keys.
  cursor: cursorOf(z.tuple([z.number().int(), TimeAndId])).optional(),
});

const deprecated = { deprecated: true };

const ActionSummary = z
  .strictObject({
    id: Id,
    dealId: Id,
    kind: z.string(),
    title: z.string(),
    status: ActionStatus,
    risk: Risk,
    approvals: Approvals,
    approvalsRequired: z.number().int().min(0).meta({ ...deprecated, description: 'Deprecated: read approvals.required' }),
    approvalsGiven: z.number().int().min(0).meta({ ...deprecated, description: 'Deprecated: read the length of approvals.given' }),
    proposedBy: Actor,
    proposedAt: Timestamp,
    updatedAt: Timestamp,
    expiresAt: Timestamp.nullable().describe('While it awaits approval: when the request expires'),
  })
  .meta({ id: 'ActionSummary', description: 'An action as lists show it' });

const Action = ActionSummary.extend({
  payload: z.record(z.string(), z.unknown()),
  riskReasons: z.array(z.string()),
  approvedBy: z.enum(['policy', 'approvers']).nullable().meta({ ...deprecated, description: 'Deprecated: approvals.required is 0 when the policy approved it' }),
  rejection: z.strictObject({ by: z.string(), reason: z.string() }).nullable(),
  cancellation: z.strictObject({ by: z.string(), reason: z.string().nullable() }).nullable(),
  attempts: z.number().int().min(0).describe('Execution attempts so far'),
  result: z.record(z.string(), z.unknown()).nullable().describe("The executor's result, once executed"),
  error: z.string().nullable().describe("The last failed attempt's error, until an attempt succeeds"),
  revision: Revision,
}).meta({ id: 'Action', description: 'One action in full' });

const ApprovalQueueItem = ActionSummary.extend({
  payload: z.record(z.string(), z.unknown()).describe('What the action will do: an approver decides on it, so the queue carries it'),
  riskReasons: z.array(z.string()),
  approvers: z.array(z.string()).meta({ ...deprecated, description: 'Deprecated: read approvals.given[].by' }),
  canApprove: z.boolean().describe('Whether the caller may approve it: an approver, not its proposer, not approved by them already'),
  proposerName: z.string().nullable().describe("The proposer's name: the agent's, for an agent's principal; null when unknown"),
  deal: z
    .strictObject({ name: z.string(), company: z.string(), stage: z.string(), amount: Money })
    .nullable()
    .describe('The deal it acts on, as it stands now; null while the deals read model has not seen it'),
  revision: Revision.describe("The action's revision: send it as If-Match so that an approval of what changed meanwhile is refused (412)"),
}).meta({ id: 'ApprovalQueueItem', description: 'An action awaiting approval, as the queue shows it' });

type Row = Record<string, unknown>;

export const actionQueries = [
  queryRoute({
    path: '/actions',
    summary: 'Actions, newest first by proposal (or by last change); filter by deal, status, risk, kind and proposer',
    query: ListActionsQuery,
    response: pageOf(ActionSummary),
    reads: ['actions'],
    handler: async (query, { knex }) => {
      const rows = summaries(knex);
      if (query.dealId) rows.where('deal_id', query.dealId);
      if (query.status) rows.whereIn('status', query.status);
      if (query.risk) rows.whereIn('risk', query.risk);
      if (query.kind) rows.where('kind', query.kind);
      if (query.proposedBy) rows.where('proposed_by_id', query.proposedBy);
      const sort = query.sort === 'updated' ? 'updated_at' : 'proposed_at';
      const page = await keysetPage<Row>(rows, {
        sort, tiebreak: 'action_id', direction: 'desc', cursor: query.cursor, limit: query.limit, keys: [sort, 'action_id'],
      });
      return { items: page.items.map(summary), nextCursor: page.nextCursor };
    },
  }),
  queryRoute({
    path: '/actions/:id',
    summary: 'One action: payload, risk and its reasons, approvals given, execution attempts, result or error',
    query: z.strictObject({}),
    response: Action,
    reads: ['actions'],
    handler: async (_query, { knex, params }) => {
      const row = (await knex('read.actions as a').select('a.*', knex.raw(approvalsGivenSql('a.action_id'))).where('a.action_id', params.id).first()) as Row | undefined;
      if (!row) throw new NotFoundError('ACTION.NOT_FOUND', 'No such action');
      return {
        ...summary(row),
        payload: row.payload as Record<string, unknown>,
        riskReasons: row.risk_reasons as string[],
        approvedBy: row.approved_by as 'policy' | 'approvers' | null,
        rejection: row.rejected_by ? { by: row.rejected_by as string, reason: row.rejection_reason as string } : null,
        cancellation: row.cancelled_by ? { by: row.cancelled_by as string, reason: row.cancel_reason as string | null } : null,
        attempts: row.attempts as number,
        result: row.result as Record<string, unknown> | null,
        error: row.error as string | null,
        revision: String(row.revision),
      };
    },
  }),
  queryRoute({
    path: '/hitl/approval-queue',
    summary: 'Actions awaiting approval and not yet expired, highest risk first then oldest; canApprove says whether the caller may approve each',
    query: ApprovalQueueQuery,
    response: pageOf(ApprovalQueueItem),
    reads: ['actions', 'deals', 'agents'],
    handler: async (query, { knex, principal }) => {
      const rows = summaries(knex)
        .select('a.risk_rank', 'a.risk_reasons', 'a.payload', 'a.revision', knex.raw(DEAL_OF_ACTION_SQL), knex.raw(PROPOSER_NAME_SQL))
        .whereIn('status', storedStatuses('awaiting_approval'))
        .where('expires_at', '>', knex.fn.now());
      if (query.dealId) rows.where('deal_id', query.dealId);
      if (query.risk) rows.whereIn('risk', query.risk);
      const page = await queuePage(rows, query.cursor, query.limit);
      return {
        items: page.items.map((row) => ({
          ...summary(row),
          payload: row.payload as Record<string, unknown>,
          riskReasons: row.risk_reasons as string[],
          approvers: row.approver_ids as string[],
          canApprove: canApprove(principal, row),
          proposerName: row.proposer_name as string | null,
          deal: dealOf(row.deal as DealRow | null),
          revision: String(row.revision),
        })),
        nextCursor: page.nextCursor,
      };
    },
  }),
];

const SUMMARY_COLUMNS = [
  'action_id', 'deal_id', 'kind', 'title', 'status', 'risk', 'approvals_required', 'approver_ids',
  'proposed_by_kind', 'proposed_by_id', 'proposed_at', 'updated_at', 'expires_at',
].map((column) => `a.${column}`);

/** Actions with what a summary shows, the approvals given included. */
function summaries(knex: Knex): Knex.QueryBuilder {
  return knex('read.actions as a').select(...SUMMARY_COLUMNS, knex.raw(approvalsGivenSql('a.action_id')));
}

function summary(row: Row): z.infer<typeof ActionSummary> {
  const approverIds = row.approver_ids as string[];
  return {
    id: row.action_id as string,
    dealId: row.deal_id as string,
    kind: row.kind as string,
    title: row.title as string,
    status: answeredStatus(row.status),
    risk: row.risk as z.infer<typeof Risk>,
    approvals: approvalsOf(row.approvals_required, row.approvals_given as ApprovalRow[]),
    approvalsRequired: row.approvals_required as number,
    approvalsGiven: approverIds.length,
    proposedBy: { kind: row.proposed_by_kind as Actor['kind'], id: row.proposed_by_id as string },
    proposedAt: isoTime(row.proposed_at),
    updatedAt: isoTime(row.updated_at),
    expiresAt: iso(row.expires_at),
  };
}

/** What an approver weighs beside the action: the deal (amount as text, exact), one row per action. */
const DEAL_OF_ACTION_SQL = `(SELECT json_build_object('name', d.name, 'company', d.company, 'stage', d.stage, 'amount', d.amount::text, 'currency', d.currency)
   FROM read.deals d WHERE d.deal_id = a.deal_id) AS deal`;
/** An agent principal's agent's name, else the principal's own. */
const PROPOSER_NAME_SQL = `(SELECT coalesce(g.name, p.name) FROM principals p LEFT JOIN read.agents g ON g.agent_id = p.agent_id::text
   WHERE p.id = a.proposed_by_id) AS proposer_name`;

interface DealRow {
  name: string;
  company: string;
  stage: string;
  amount: string;
  currency: string;
}
const dealOf = (row: DealRow | null) => (row ? { name: row.name, company: row.company, stage: row.stage, amount: moneyOf(row.amount, row.currency)! } : null);

/** The decider's rules, seen from the caller: an approver's role, not the proposer, not twice. */
function canApprove(principal: Principal, row: Row): boolean {
  return hasRole(principal, APPROVER_ROLES) && row.proposed_by_id !== principal.id && !(row.approver_ids as string[]).includes(principal.id);
}

/** Keyset pagination by risk (descending), then proposal time and id (ascending): mixed directions need their own condition. */
async function queuePage(rows: Knex.QueryBuilder, cursor: [number, [string, string]] | undefined, limit: number): Promise<Page<Row>> {
  if (cursor) {
    const [rank, [at, id]] = cursor;
    rows.where((after) => after.where('risk_rank', '<', rank).orWhere((same) => same.where('risk_rank', rank).whereRaw('(proposed_at, action_id) > (?, ?)', [at, id])));
  }
  const found = (await rows.orderBy([{ column: 'risk_rank', order: 'desc' }, 'proposed_at', 'action_id']).limit(limit + 1)) as Row[];
  const items = found.slice(0, limit);
  const last = items.at(-1);
  const next = found.length > limit && last ? [last.risk_rank, [iso(last.proposed_at), last.action_id]] : undefined;
  return { items, nextCursor: next ? encodeCursor(next) : null };
}
