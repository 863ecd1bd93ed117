import { Router } from 'express';
import { z } from 'zod';
import { dealDecider } from '../../domain/deals/deal.decider.js';
import { CompanyName, DealName, DealStage, Reason, Tags } from '../../domain/deals/deal.events.js';
import { Money } from '../../domain/shared/money.js';
import { commandRoute, type CommandDependencies } from '../../http/command-route.js';

const editors = ['admin', 'operator'] as const;
const PersonId = z.string().trim().min(1).max(200);

export const CreateDealBody = z.strictObject({ name: DealName, company: CompanyName, amount: Money, ownerId: PersonId.optional(), tags: Tags.default([]) });
export const UpdateDealBody = z
  .strictObject({ name: DealName.optional(), company: CompanyName.optional(), amount: Money.optional(), tags: Tags.optional() })
  .refine((body) => Object.keys(body).length > 0, 'name at least one field to change');
export const AssignOwnerBody = z.strictObject({ ownerId: PersonId });
export const AddNoteBody = z.strictObject({ text: z.string().trim().min(1).max(10_000) });
export const ChangeStageBody = z.strictObject({ to: DealStage, reason: Reason.optional() });
export const ReopenBody = z.strictObject({ reason: Reason });

/** The deal commands under /api/deals. */
export function dealRoutes(deps: CommandDependencies): Router {
  const stream = (id: string) => `deal-${id}`;
  const router = Router();
  router.post(
    '/deals',
    commandRoute(deps, {
      roles: [...editors],
      body: CreateDealBody,
      decider: dealDecider,
      streamId: stream,
      location: (id) => `/api/deals/${id}`,
      command: (body, { id, metadata, principal }) => ({
        type: 'CreateDeal' as const,
        data: { dealId: id, name: body.name, company: body.company, amount: body.amount, ownerId: body.ownerId ?? principal.name, tags: body.tags },
        metadata,
      }),
    }),
  );
  router.patch(
    '/deals/:id',
    commandRoute(deps, { roles: [...editors], body: UpdateDealBody, decider: dealDecider, streamId: stream, command: (data, { metadata }) => ({ type: 'UpdateDeal' as const, data, metadata }) }),
  );
  router.post(
    '/deals/:id/owner',
    commandRoute(deps, { roles: [...editors], body: AssignOwnerBody, decider: dealDecider, streamId: stream, command: (data, { metadata }) => ({ type: 'AssignDealOwner' as const, data, metadata }) }),
  );
  router.post(
    '/deals/:id/notes',
    commandRoute(deps, {
      roles: [...editors, 'approver', 'agent'],
      body: AddNoteBody,
      decider: dealDecider,
      streamId: stream,
      command: (data, { metadata }) => ({ type: 'AddDealNote' as const, data: { noteId: metadata.causationId, text: data.text }, metadata }),
    }),
  );
  router.post(
    '/deals/:id/stage',
    commandRoute(deps, { roles: [...editors], body: ChangeStageBody, decider: dealDecider, streamId: stream, command: (data, { metadata }) => ({ type: 'ChangeDealStage' as const, data, metadata }) }),
  );
  router.post(
    '/deals/:id/reopen',
    commandRoute(deps, { roles: [...editors], body: ReopenBody, decider: dealDecider, streamId: stream, command: (data, { metadata }) => ({ type: 'ReopenDeal' as const, data, metadata }) }),
  );
  return router;
}
