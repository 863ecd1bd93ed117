import { settleRunCost } from '../../commands/agents/settle-run-cost.js';
import { agentRunStreamId } from '../../domain/agents/agent.events.js';
import type { JsonObject } from '../../eventstore/contract.js';
import type { RunOutcome } from '../../commands/agents/settle-run-cost.js';
import type { JobContext } from '../job-context.js';
import type { JobData } from '../jobs.js';

/**
 * Settles a finished run's cost on its agent's ledger. The API settles it right after recording the
 * outcome; this catches the outcomes whose settling never happened (the process died in between).
 */
export async function settleCost(context: JobContext): Promise<JsonObject> {
  const { agentId, runId, eventId } = context.job.data as JobData['settle-run-cost'];
  let outcome: RunOutcome | undefined;
  for await (const event of context.deps.eventStore.readStream(agentRunStreamId(agentId, runId), { direction: 'backwards' })) {
    if (event.id === eventId) outcome = { id: event.id, data: event.data as RunOutcome['data'] };
    if (outcome) break;
  }
  if (!outcome) return { settled: false, reason: 'the outcome is not in the run' };
  const position = await settleRunCost(context.deps.eventStore, outcome, context.metadata());
  return { settled: position !== null };
}
