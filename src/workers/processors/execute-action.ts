import type { ActionKinds } from '../../domain/actions/action-kinds.js';
import { actionDecider } from '../../domain/actions/action.decider.js';
import type { ActionEvent } from '../../domain/actions/action.events.js';
import { IllegalStateError } from '../../domain/shared/errors.js';
import { upcast } from '../../domain/upcasters.js';
import type { JsonObject } from '../../eventstore/contract.js';
import { PermanentFailure, type Executor } from '../executors.js';
import type { JobContext } from '../job-context.js';
import { isLastAttempt, type JobData } from '../jobs.js';

const decider = actionDecider();

type Proposal = Extract<ActionEvent, { type: 'ActionProposed' }>['data'];
type Approval = Extract<ActionEvent, { type: 'ActionApproved' }>['data'];

/**
 * Executes an approved action: records the attempt's start, hands the action to the executor for
 * its kind, and records it executed (with the result) or failed (with the error, final on the last
 * attempt or when trying again cannot help). An action no longer approved (cancelled, executed,
 * failed unless the job is replayed) is left alone, and so is one of a manual kind: a person
 * carries it out and records its outcome. The attempt's events have ids derived from the job and
 * attempt, so a job picked up again after its worker died carries on with the same attempt.
 */
export async function executeAction(context: JobContext, kinds: ActionKinds, registry: Record<string, Executor>): Promise<JsonObject> {
  const { job } = context;
  const { actionId, replays = 0 } = job.data as JobData['execute-action'];
  const stream = `action-${actionId}`;
  const attempt = `replay-${replays}-attempt-${job.attemptsMade}`;

  const { proposal, approval } = await read(context, stream);
  if (kinds.get(proposal.kind)?.execution === 'manual') return { skipped: `a person carries out ${proposal.kind} actions and records the outcome` };

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

  try {
    const executor = registry[proposal.kind];
    if (!executor) throw new PermanentFailure(`no executor for actions of kind ${proposal.kind}`);
    if (!approval) throw new PermanentFailure(`${stream} was started without an approval`);
    const onBehalfOf = { actionId, approvedBy: approval.by, approverIds: approval.approverIds };
    const result = await executor({ actionId, dealId: proposal.dealId, kind: proposal.kind, payload: proposal.payload, attempt: start.data.attempt, onBehalfOf }, context);
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

/** The action's proposal, and its approval (the latest: who approved it, or the policy). */
async function read(context: JobContext, stream: string): Promise<{ proposal: Proposal; approval: Approval | undefined }> {
  let proposal: Proposal | undefined;
  let approval: Approval | undefined;
  for await (const stored of context.deps.eventStore.readStream(stream)) {
    const event = upcast(stored) as unknown as ActionEvent;
    if (event.type === 'ActionProposed') proposal = event.data;
    if (event.type === 'ActionApproved') approval = event.data;
  }
  if (!proposal) throw new PermanentFailure(`${stream} does not begin with a proposal`);
  return { proposal, approval };
}
