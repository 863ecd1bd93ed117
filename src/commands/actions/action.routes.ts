import { z } from 'zod';
import { isAdmin } from '../../auth/principal.js';
import { actionDecider, type ActionRules } from '../../domain/actions/action.decider.js';
import { dealDecider } from '../../domain/deals/deal.decider.js';
import { commandRoute } from '../../http/command-route.js';
import { loadStream } from '../handle-command.js';

export const ProposeActionBody = z.strictObject({
  dealId: z.uuid(),
  kind: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a snake_case action kind such as "send_email"').describe('One of the kinds GET /api/action-kinds lists'),
  title: z.string().trim().min(1).max(300),
  payload: z.record(z.string(), z.unknown()).default({}).describe("Must fit the kind's payload schema (GET /api/action-kinds)"),
});
export const ApproveActionBody = z.strictObject({ note: z.string().trim().max(2000).optional() });
export const RejectActionBody = z.strictObject({ reason: z.string().trim().min(1).max(2000) });
export const CancelActionBody = z.strictObject({ reason: z.string().trim().max(2000).optional() });
export const RetryActionBody = z.strictObject({ reason: z.string().trim().max(2000).optional() });
export const RecordOutcomeBody = z.discriminatedUnion('outcome', [
  z.strictObject({
    outcome: z.literal('executed'),
    result: z.record(z.string(), z.unknown()).default({}).describe('What came of it (a message id, the meeting booked), as the record of the execution'),
  }),
  z.strictObject({ outcome: z.literal('failed'), error: z.string().trim().min(1).max(2000).describe('What went wrong') }),
]);

/** The action commands under /api: proposals, human approval, cancellation, manual outcomes. */
export function actionCommands(rules: Partial<ActionRules> = {}) {
  const action = { decider: actionDecider(rules), streamId: (id: string) => `action-${id}` };
  return [
    commandRoute({
      ...action,
      method: 'post',
      path: '/actions',
      summary: 'Propose an action on an open deal; the risk policy approves it or asks for approvers',
      roles: ['admin', 'operator', 'agent'],
      body: ProposeActionBody,
      location: (id) => `/api/actions/${id}`,
      command: async (body, { id, metadata, eventStore, streams }) => {
        const deal = await loadStream(eventStore, `deal-${body.dealId}`, dealDecider, streams);
        return { type: 'ProposeAction' as const, data: { actionId: id, ...body, deal: deal.state }, metadata };
      },
    }),
    commandRoute({
      ...action,
      method: 'post',
      path: '/actions/:id/approve',
      summary: 'Approve an action awaiting approval (never your own proposal, never twice)',
      roles: ['admin', 'approver'],
      body: ApproveActionBody,
      command: (data, { metadata }) => ({ type: 'ApproveAction' as const, data, metadata }),
    }),
    commandRoute({
      ...action,
      method: 'post',
      path: '/actions/:id/reject',
      summary: 'Reject an action awaiting approval, with a reason',
      roles: ['admin', 'approver'],
      body: RejectActionBody,
      command: (data, { metadata }) => ({ type: 'RejectAction' as const, data, metadata }),
    }),
    commandRoute({
      ...action,
      method: 'post',
      path: '/actions/:id/cancel',
      summary: 'Cancel an action before its execution starts (the proposer or an admin)',
      roles: ['admin', 'operator', 'agent'],
      body: CancelActionBody,
      command: (data, { metadata, principal }) => ({ type: 'CancelAction' as const, data: { ...data, byAdmin: isAdmin(principal) }, metadata }),
    }),
    commandRoute({
      ...action,
      method: 'post',
      path: '/actions/:id/retry',
      summary: 'Execute an action whose execution failed for good once more (its attempts and errors stay in its history)',
      roles: ['admin', 'operator'],
      body: RetryActionBody,
      command: (data, { metadata }) => ({ type: 'RetryActionExecution' as const, data, metadata }),
    }),
    commandRoute({
      ...action,
      method: 'post',
      path: '/actions/:id/outcome',
      summary: 'Record what came of an approved action that a person carries out (a `manual` kind): executed with a result, or failed for good with the error',
      roles: ['admin', 'operator'],
      body: RecordOutcomeBody,
      command: (data, { metadata }) => ({ type: 'RecordManualOutcome' as const, data, metadata }),
    }),
  ];
}
