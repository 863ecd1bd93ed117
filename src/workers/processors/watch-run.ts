import { agentRunDecider } from '../../domain/agents/agent-run.decider.js';
import { agentRunStreamId } from '../../domain/agents/agent.events.js';
import type { JsonObject } from '../../eventstore/contract.js';
import type { JobContext } from '../job-context.js';
import type { JobData } from '../jobs.js';

/**
 * Runs a set time after each sign of life of an agent run: fails the run as timed out if it has
 * been silent since, and does nothing if it was active meanwhile (a later watchdog watches that)
 * or has finished.
 */
export async function watchRun(context: JobContext): Promise<JsonObject> {
  const { agentId, runId } = context.job.data as JobData['watch-run'];
  const idleMs = context.deps.settings.agentRunIdleMs;
  const result = await context.send(agentRunStreamId(agentId, runId), agentRunDecider, { type: 'TimeOutAgentRun', data: { idleMs } }, 'time-out');
  return { timedOut: result.events.length > 0 };
}
