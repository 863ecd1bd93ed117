import { z } from 'zod';
import { upcaster } from '../shared/upcasting.js';
import { OPEN_STAGES, Reason, type DealEventSchemas } from './deal.events.js';

/**
 * DealClosed, version 1: the stage the deal closed from was called `from`. Beside `outcome`, with
 * no `to`, the name read as "closed by" as easily as "closed from which stage"; version 2 calls it
 * `fromStage`, as the stage history and a lost deal's `lostFrom` do.
 */
export const DealClosedV1 = z.object({
  dealId: z.string(),
  outcome: z.enum(['won', 'lost']),
  from: z.enum(OPEN_STAGES),
  reason: Reason.optional(),
});
export type DealClosedV1 = z.infer<typeof DealClosedV1>;
type DealClosedV2 = z.infer<(typeof DealEventSchemas)['DealClosed']>;

/** The deal events' older shapes, each turned into the next version. */
export const dealUpcasters = [
  upcaster<DealClosedV1, DealClosedV2>({
    type: 'DealClosed',
    fromVersion: 1,
    schema: DealClosedV1,
    upcast: ({ dealId, outcome, from, ...rest }) => ({ dealId, outcome, fromStage: from, ...rest }),
  }),
];
