import { actionDecider } from '../../domain/actions/action.decider.js';
import type { ActionEvent } from '../../domain/actions/action.events.js';
import { defaultRiskPolicy } from '../../domain/actions/risk-policy.js';
import { IllegalStateError } from '../../domain/shared/errors.js';
import { upcast } from '../../domain/upcasters.js';
import type { JsonObject } from '../../eventstore/contract.js';
import { PermanentFailure, type Executor } from '../executors.js';
import type { JobContext } from '../job-context.js';
import { isLastAttempt, type JobData } from '../jobs.js';

const decider = actionDecider(defaultRiskPolicy);

/**
 * Executes an approved action: records the attempt's start, hands the action to the executor for
 * its kind, and records it executed (with the result) or failed (with the error, final on the last
 * attempt or when trying again cannot help). An action no longer approved (cancelled, executed,
 * failed unless the job is replayed) is left alone. The attempt's events have ids derived from the job and attempt, so a job
 * picked up again after its worker died carries on with the same attempt.
 */
export async function executeAction(context: JobContext, registry: Record<string, Executor>): Promise<JsonObject> {
  const { job } = context;
  const { actionId, replays = 0 } = job.data as JobData['execute-action'];
  const stream = `action-${actionId}`;
  const attempt = `replay-${replays}-attempt-${job.attemptsMade}`;

  let started;
  try {
    // A replayed job (an operator's decision) may start an action that failed for good.
    started = await context.send(stream, decider, { type: 'StartActionExecution', data: { retryFailed: replays > 0 } }, `${attempt}-start`);
  } catch (error) {
    if (error instanceof IllegalStateError) return { skipped: error.message };
    throw error;
  }
  const start = started.events.find((event) => event.type === 'ActionExecutionStarted');
  if (!start) return { skipped: 'executed already' };

  const proposal = await proposalOf(context, stream);
  try {
    const executor = registry[proposal.kind];
    if (!executor) throw new PermanentFailure(`no executor for actions of kind ${proposal.kind}`);
    const result = await executor({ actionId, dealId: proposal.dealId, kind: proposal.kind, payload: proposal.payload, attempt: start.data.attempt }, context);
    await context.send(stream, decider, { type: 'RecordActionExecuted', data: { result } }, `${attempt}-executed`);
    return result;
  } catch (error) {
    if (context.signal.aborted) throw error; // the worker is stopping: the job goes back to the queue as it is
    const final = isLastAttempt(job, error);
    const message = (error as Error).message || String(error);
    await context.send(stream, decider, { type: 'RecordActionExecutionFailed', data: { error: message, final } }, `${attempt}-failed`);
    throw error;
  }
}

async function proposalOf(context: JobContext, stream: string): Promise<Extract<ActionEvent, { type: 'ActionProposed' }>['data']> {
  for await (const event of context.deps.eventStore.readStream(stream, { maxCount: 1 })) {
    if (event.type === 'ActionProposed') return upcast(event).data as Extract<ActionEvent, { type: 'ActionProposed' }>['data'];
  }
  throw new PermanentFailure(`${stream} does not begin with a proposal`);
}
