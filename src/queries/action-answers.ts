import { z } from 'zod';
import type { ActionStatus as StoredStatus } from '../domain/actions/action.state.js';
import { Timestamp } from './answers.js';
import { isoTime } from './pagination.js';
import { commaList } from './query-params.js';

/**
 * How answers name an action's status (lower snake case), by the name the domain and the read model
 * keep: stored data is not rewritten, the HTTP edge maps it. A record, so that a status added to the
 * domain fails to compile here until it is named.
 */
const ANSWERED = {
  AwaitingApproval: 'awaiting_approval',
  Approved: 'approved',
  Rejected: 'rejected',
  Expired: 'expired',
  Cancelled: 'cancelled',
  Executing: 'executing',
  Executed: 'executed',
  Failed: 'failed',
} as const satisfies Record<StoredStatus, string>;

export const ActionStatus = z.enum(ANSWERED).meta({ id: 'ActionStatus', description: "An action's status" });
export type ActionStatus = z.infer<typeof ActionStatus>;

const STORED = Object.fromEntries(Object.entries(ANSWERED).map(([stored, answered]) => [answered, stored])) as Record<ActionStatus, StoredStatus>;

/** A status as the read model stores it, as answers name it. */
export function answeredStatus(stored: unknown): ActionStatus {
  return ANSWERED[stored as StoredStatus];
}

/** The statuses answers use, as the read model stores them. */
export function storedStatuses(...answered: ActionStatus[]): StoredStatus[] {
  return answered.map((status) => STORED[status]);
}

/**
 * `?status=` with one or more statuses, comma-separated, as the read model stores them. The
 * PascalCase names answers used before (`AwaitingApproval`) are accepted for one more version.
 */
export const ActionStatusFilter = commaList(
  (value) => Object.hasOwn(STORED, value) || Object.hasOwn(ANSWERED, value),
  `of ${Object.keys(STORED).join(', ')}`,
)
  .transform((values) => values.map((value) => (Object.hasOwn(STORED, value) ? STORED[value as ActionStatus] : (value as StoredStatus))))
  .describe(`One or more of ${Object.keys(STORED).join(', ')}, comma-separated (the PascalCase names, e.g. AwaitingApproval, are deprecated but still accepted)`);

export const Approval = z
  .strictObject({
    by: z.string().describe('The principal id of the person who approved'),
    at: Timestamp,
    note: z.string().nullable(),
  })
  .meta({ id: 'Approval', description: 'One approval given' });

export const Approvals = z
  .strictObject({
    required: z.number().int().min(0).describe('How many different people must approve (0: low risk, approved by policy)'),
    given: z.array(Approval).describe('The approvals given so far, oldest first'),
  })
  .meta({ id: 'Approvals', description: 'The approvals an action needs and those given' });
export type Approvals = z.infer<typeof Approvals>;

/**
 * The approvals given to the action whose id is in `actionIdColumn`, as a JSON array (oldest first)
 * named `approvals_given`: a correlated subquery, for lists, which read many actions in one statement.
 */
export function approvalsGivenSql(actionIdColumn: string): string {
  return `(SELECT coalesce(json_agg(json_build_object('by', p.approver_id, 'at', p.at, 'note', p.note) ORDER BY p.at, p.approver_id), '[]')
           FROM read.action_approvals p WHERE p.action_id = ${actionIdColumn}) AS approvals_given`;
}

export interface ApprovalRow {
  by: string;
  at: Date | string;
  note: string | null;
}

export function approvalsOf(required: unknown, given: readonly ApprovalRow[]): Approvals {
  return { required: Number(required), given: given.map(({ by, at, note }) => ({ by, at: isoTime(at), note })) };
}
