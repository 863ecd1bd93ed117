import type { Knex } from 'knex';
import { z } from 'zod';
import type { ActionStatus } from '../domain/actions/action.state.js';
import { RISKS } from '../domain/actions/risk-policy.js';
import { NotFoundError } from '../domain/shared/errors.js';
import { hasRole, type Principal, type Role } from '../auth/principal.js';
import { Limit, cursorOf, encodeCursor, iso, keysetPage, type Page } from './pagination.js';
import { queryRoute } from './query-route.js';

// A record, so that a status added to the domain fails to compile here until it is listed.
const STATUSES = Object.keys({
  AwaitingApproval: 0, Approved: 0, Rejected: 0, Expired: 0, Cancelled: 0, Executing: 0, Executed: 0, Failed: 0,
} satisfies Record<ActionStatus, 0>) as ActionStatus[];

/** The roles the approve command admits (src/commands/actions/action.routes.ts). */
const APPROVER_ROLES: readonly Role[] = ['admin', 'approver'];

/** `a` or `a,b,c`, each one of `allowed`. */
function oneOrMore<T extends string>(allowed: readonly T[]) {
  return z.string().transform((text, context) => {
    const values = text.split(',').map((value) => value.trim());
    const unknown = values.filter((value) => !(allowed as readonly string[]).includes(value));
    if (unknown.length === 0) return values as T[];
    context.addIssue({ code: 'custom', message: `unknown ${unknown.join(', ')}: use one or more of ${allowed.join(', ')}, comma-separated` });
    return z.NEVER;
  });
}

const TimeAndId = z.tuple([z.iso.datetime(), z.string()]);

const ListActionsQuery = z.strictObject({
  dealId: z.uuid().optional(),
  status: oneOrMore(STATUSES).optional(),
  risk: oneOrMore(RISKS).optional(),
  kind: z.string().max(64).optional(),
  proposedBy: z.string().max(200).optional(),
  sort: z.enum(['proposed', 'updated']).default('proposed'),
  limit: Limit,
  cursor: cursorOf(TimeAndId).optional(),
});

const ApprovalQueueQuery = z.strictObject({
  dealId: z.uuid().optional(),
  risk: oneOrMore(RISKS).optional(),
  limit: Limit,
  // Risk rank, then (proposed at, id): the queue sorts by three keys.
  cursor: cursorOf(z.tuple([z.number().int(), TimeAndId])).optional(),
});

type Row = Record<string, unknown>;

export const actionQueries = [
  queryRoute({
    path: '/actions',
    summary: 'Actions, newest first by proposal (or by last change); filter by deal, status, risk, kind and proposer',
    query: ListActionsQuery,
    reads: ['actions'],
    handler: async (query, { knex }) => {
      const rows = knex('read.actions').select(SUMMARY_COLUMNS);
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
    reads: ['actions'],
    handler: async (_query, { knex, params }) => {
      const row = (await knex('read.actions').where('action_id', params.id).first()) as Row | undefined;
      if (!row) throw new NotFoundError('ACTION.NOT_FOUND', 'No such action');
      const approvals = (await knex('read.action_approvals').where('action_id', params.id).orderBy(['at', 'approver_id'])) as Row[];
      return {
        ...summary(row),
        payload: row.payload,
        riskReasons: row.risk_reasons,
        approvedBy: row.approved_by,
        approvals: approvals.map((approval) => ({ approverId: approval.approver_id, note: approval.note, at: iso(approval.at) })),
        rejection: row.rejected_by ? { by: row.rejected_by, reason: row.rejection_reason } : null,
        cancellation: row.cancelled_by ? { by: row.cancelled_by, reason: row.cancel_reason } : null,
        attempts: row.attempts,
        result: row.result,
        error: row.error,
        revision: String(row.revision),
      };
    },
  }),
  queryRoute({
    path: '/hitl/approval-queue',
    summary: 'Actions awaiting approval and not yet expired, highest risk first then oldest; canApprove says whether the caller may approve each',
    query: ApprovalQueueQuery,
    reads: ['actions'],
    handler: async (query, { knex, principal }) => {
      const rows = knex('read.actions')
        .select([...SUMMARY_COLUMNS, 'risk_rank', 'risk_reasons'])
        .where('status', 'AwaitingApproval')
        .where('expires_at', '>', knex.fn.now());
      if (query.dealId) rows.where('deal_id', query.dealId);
      if (query.risk) rows.whereIn('risk', query.risk);
      const page = await queuePage(rows, query.cursor, query.limit);
      return {
        items: page.items.map((row) => ({
          ...summary(row),
          riskReasons: row.risk_reasons,
          approvers: row.approver_ids,
          canApprove: canApprove(principal, row),
        })),
        nextCursor: page.nextCursor,
      };
    },
  }),
];

const SUMMARY_COLUMNS = [
  'action_id', 'deal_id', 'kind', 'title', 'status', 'risk', 'approvals_required', 'approver_ids',
  'proposed_by_kind', 'proposed_by_id', 'proposed_at', 'updated_at', 'expires_at',
];

function summary(row: Row) {
  return {
    id: row.action_id,
    dealId: row.deal_id,
    kind: row.kind,
    title: row.title,
    status: row.status,
    risk: row.risk,
    approvalsRequired: row.approvals_required,
    approvalsGiven: (row.approver_ids as string[]).length,
    proposedBy: { kind: row.proposed_by_kind, id: row.proposed_by_id },
    proposedAt: iso(row.proposed_at),
    updatedAt: iso(row.updated_at),
    expiresAt: iso(row.expires_at),
  };
}

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
