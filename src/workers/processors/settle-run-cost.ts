import { settleRunCost } from '../../commands/agents/settle-run-cost.js';
import type { JsonObject } from '../../eventstore/contract.js';
import type { JobContext } from '../job-context.js';
import type { JobData } from '../jobs.js';

/**
 * Settles a finished run's cost on its agent's ledger. The API settles it right after recording the
 * outcome; this catches the outcomes whose settling never happened (the process died in between).
 */
export async function settleCost(context: JobContext): Promise<JsonObject> {
  const { agentId, runId, cost, eventId } = context.job.data as JobData['settle-run-cost'];
  await settleRunCost(context.deps.eventStore, { id: eventId, data: { agentId, runId, cost } }, context.metadata(), context.deps.streams);
  return { settled: true };
}
