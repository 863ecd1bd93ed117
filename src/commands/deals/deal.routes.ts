import { z } from 'zod';
import { dealDecider } from '../../domain/deals/deal.decider.js';
import { CompanyName, DealName, DealStage, Reason, Tags } from '../../domain/deals/deal.events.js';
import { CanonicalMoney } from '../../domain/shared/money.js';
import { commandRoute } from '../../http/command-route.js';

const editors = ['admin', 'operator'] as const;
const PersonId = z.string().trim().min(1).max(200);
const deal = { decider: dealDecider, streamId: (id: string) => `deal-${id}` };

export const CreateDealBody = z.strictObject({ name: DealName, company: CompanyName, amount: CanonicalMoney, ownerId: PersonId.optional(), tags: Tags.default([]) });
export const UpdateDealBody = z
  .strictObject({ name: DealName.optional(), company: CompanyName.optional(), amount: CanonicalMoney.optional(), tags: Tags.optional() })
  .refine((body) => Object.keys(body).length > 0, 'name at least one field to change');
export const AssignOwnerBody = z.strictObject({ ownerId: PersonId });
export const AddNoteBody = z.strictObject({ text: z.string().trim().min(1).max(10_000) });
export const ChangeStageBody = z.strictObject({ to: DealStage, reason: Reason.optional() });
export const ReopenBody = z.strictObject({ reason: Reason });

/** The deal commands under /api. */
export const dealCommands = [
  commandRoute({
    ...deal,
    method: 'post',
    path: '/deals',
    summary: 'Create a deal (in sourcing)',
    roles: [...editors],
    body: CreateDealBody,
    location: (id) => `/api/deals/${id}`,
    command: (body, { id, metadata, principal }) => ({
      type: 'CreateDeal' as const,
      data: { dealId: id, name: body.name, company: body.company, amount: body.amount, ownerId: body.ownerId ?? principal.id, tags: body.tags },
      metadata,
    }),
  }),
  commandRoute({
    ...deal,
    method: 'patch',
    path: '/deals/:id',
    summary: "Update a deal's name, company, amount or tags",
    roles: [...editors],
    body: UpdateDealBody,
    command: (data, { metadata }) => ({ type: 'UpdateDeal' as const, data, metadata }),
  }),
  commandRoute({
    ...deal,
    method: 'post',
    path: '/deals/:id/owner',
    summary: 'Assign the deal owner',
    roles: [...editors],
    body: AssignOwnerBody,
    command: (data, { metadata }) => ({ type: 'AssignDealOwner' as const, data, metadata }),
  }),
  commandRoute({
    ...deal,
    method: 'post',
    path: '/deals/:id/notes',
    summary: 'Add a note to a deal',
    roles: [...editors, 'approver', 'agent'],
    body: AddNoteBody,
    command: (data, { metadata }) => ({ type: 'AddDealNote' as const, data: { noteId: metadata.causationId, text: data.text }, metadata }),
  }),
  commandRoute({
    ...deal,
    method: 'post',
    path: '/deals/:id/stage',
    summary: 'Move a deal to another stage, win it (from closing) or lose it (with a reason)',
    roles: [...editors],
    body: ChangeStageBody,
    command: (data, { metadata }) => ({ type: 'ChangeDealStage' as const, data, metadata }),
  }),
  commandRoute({
    ...deal,
    method: 'post',
    path: '/deals/:id/reopen',
    summary: 'Reopen a lost deal into the stage it was lost from',
    roles: [...editors],
    body: ReopenBody,
    command: (data, { metadata }) => ({ type: 'ReopenDeal' as const, data, metadata }),
  }),
];
