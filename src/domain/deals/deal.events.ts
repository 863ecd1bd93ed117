import { z } from 'zod';
import type { DomainEvent } from '../shared/event.js';
import { Money } from '../shared/money.js';

export const OPEN_STAGES = ['sourcing', 'screening', 'diligence', 'negotiation', 'closing'] as const;
export const DealStage = z.enum([...OPEN_STAGES, 'won', 'lost']);
export type DealStage = z.infer<typeof DealStage>;
export type OpenStage = (typeof OPEN_STAGES)[number];

export const DealName = z.string().trim().min(1).max(200);
export const CompanyName = z.string().trim().min(1).max(200);
export const Tags = z.array(z.string().trim().min(1).max(50)).max(50);
export const Reason = z.string().trim().min(1).max(2000);

/**
 * Event data schemas, in each type's current shape. Type strings never change once stored; a shape
 * changes by adding optional fields, or by a new version that keeps the old one and upcasts it on
 * read (deal.upcasters.ts).
 */
export const DealEventSchemas = {
  DealCreated: z.object({
    dealId: z.string(),
    name: DealName,
    company: CompanyName,
    amount: Money,
    ownerId: z.string(),
    tags: Tags,
    stage: z.literal('sourcing'),
  }),
  DealUpdated: z.object({
    dealId: z.string(),
    name: DealName.optional(),
    company: CompanyName.optional(),
    amount: Money.optional(),
    tags: Tags.optional(),
  }),
  DealOwnerAssigned: z.object({ dealId: z.string(), ownerId: z.string(), previousOwnerId: z.string() }),
  DealNoteAdded: z.object({ dealId: z.string(), noteId: z.string(), text: z.string(), authorId: z.string() }),
  DealStageChanged: z.object({
    dealId: z.string(),
    from: z.enum(OPEN_STAGES),
    to: z.enum(OPEN_STAGES),
    reason: Reason.optional(),
  }),
  /** Version 2: the stage it closed from is `fromStage` (version 1 called it `from`; see deal.upcasters.ts). */
  DealClosed: z.object({
    dealId: z.string(),
    outcome: z.enum(['won', 'lost']),
    fromStage: z.enum(OPEN_STAGES),
    reason: Reason.optional(),
  }),
  DealReopened: z.object({ dealId: z.string(), stage: z.enum(OPEN_STAGES), reason: Reason }),
} as const;

type Schemas = typeof DealEventSchemas;
export type DealEvent = {
  [Type in keyof Schemas]: DomainEvent<Type, z.infer<Schemas[Type]>>;
}[keyof Schemas];
export type DealEventType = DealEvent['type'];
