import type { Knex } from 'knex';
import { dealsProjection } from './deals/deals.projection.js';
import { ensureGeneration } from './runtime/generations.js';
import type { Projection } from './runtime/projection.js';

/** Every read model the projector keeps. */
export const PROJECTIONS: readonly Projection[] = [dealsProjection];

/** Gives every projection its tables (empty until the projector fills them), so queries can run at once. */
export async function ensureProjections(knex: Knex): Promise<void> {
  for (const projection of PROJECTIONS) await ensureGeneration(knex, projection);
}
