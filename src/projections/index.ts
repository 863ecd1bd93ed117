import type { Knex } from 'knex';
import { actionsProjection } from './actions/actions.projection.js';
import { agentsProjection } from './agents/agents.projection.js';
import { dealsProjection } from './deals/deals.projection.js';
import { ensureGeneration } from './runtime/generations.js';
import type { Projection } from './runtime/projection.js';
import { timelineProjection } from './timeline/timeline.projection.js';

/** Every read model the projector keeps. */
export const PROJECTIONS: readonly Projection[] = [dealsProjection, actionsProjection, agentsProjection, timelineProjection];

/** Gives every projection its tables (empty until the projector fills them), so queries can run at once. */
export async function ensureProjections(knex: Knex): Promise<void> {
  for (const projection of PROJECTIONS) await ensureGeneration(knex, projection);
}
