import { Router } from 'express';
import { z } from 'zod';
import { actionDecider } from '../../domain/actions/action.decider.js';
import type { RiskPolicy } from '../../domain/actions/risk-policy.js';
import { dealDecider } from '../../domain/deals/deal.decider.js';
import { commandRoute, type CommandDependencies } from '../../http/command-route.js';
import { loadStream } from '../handle-command.js';

export const ProposeActionBody = z.strictObject({
  dealId: z.uuid(),
  kind: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a snake_case action kind such as "send_email"'),
  title: z.string().trim().min(1).max(300),
  payload: z.record(z.string(), z.unknown()).default({}),
});
export const ApproveActionBody = z.strictObject({ note: z.string().trim().max(2000).optional() });
export const RejectActionBody = z.strictObject({ reason: z.string().trim().min(1).max(2000) });
export const CancelActionBody = z.strictObject({ reason: z.string().trim().max(2000).optional() });

/** The action commands under /api/actions: proposals, human approval, cancellation. */
export function actionRoutes(deps: CommandDependencies, policy?: RiskPolicy): Router {
  const decider = actionDecider(policy);
  const stream = (id: string) => `action-${id}`;
  const router = Router();
  router.post(
    '/actions',
    commandRoute(deps, {
      roles: ['admin', 'operator', 'agent'],
      body: ProposeActionBody,
      decider,
      streamId: stream,
      location: (id) => `/api/actions/${id}`,
      command: async (body, { id, metadata }) => {
        const deal = await loadStream(deps.eventStore, `deal-${body.dealId}`, dealDecider);
        return { type: 'ProposeAction' as const, data: { actionId: id, ...body, deal: deal.state }, metadata };
      },
    }),
  );
  router.post(
    '/actions/:id/approve',
    commandRoute(deps, { roles: ['admin', 'approver'], body: ApproveActionBody, decider, streamId: stream, command: (data, { metadata }) => ({ type: 'ApproveAction' as const, data, metadata }) }),
  );
  router.post(
    '/actions/:id/reject',
    commandRoute(deps, { roles: ['admin', 'approver'], body: RejectActionBody, decider, streamId: stream, command: (data, { metadata }) => ({ type: 'RejectAction' as const, data, metadata }) }),
  );
  router.post(
    '/actions/:id/cancel',
    commandRoute(deps, {
      roles: ['admin', 'operator', 'agent'],
      body: CancelActionBody,
      decider,
      streamId: stream,
      command: (data, { metadata, principal }) => ({ type: 'CancelAction' as const, data: { ...data, byAdmin: principal.role === 'admin' }, metadata }),
    }),
  );
  return router;
}
