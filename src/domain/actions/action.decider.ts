import type { DealState } from '../deals/deal.state.js';
import { eventMetadata, type CommandMetadata, type Decider } from '../shared/event.js';
import { ForbiddenError, IllegalStateError, NotFoundError, ValidationError } from '../shared/errors.js';
import { stampingVersions } from '../upcasters.js';
import { defaultActionKinds, type ActionKinds } from './action-kinds.js';
import type { ActionEvent } from './action.events.js';
import { evolveAction, initialActionState, type ActionState } from './action.state.js';
import { assessRisk, defaultRiskPolicy, type RiskPolicy } from './risk-policy.js';

type Json = Record<string, unknown>;

export type ActionCommand =
  | {
      type: 'ProposeAction';
      /** `deal` is the deal as the handler loaded it: the decider stays pure. */
      data: { actionId: string; dealId: string; kind: string; title: string; payload: Json; deal: DealState };
      metadata: CommandMetadata;
    }
  | { type: 'ApproveAction'; data: { note?: string }; metadata: CommandMetadata }
  | { type: 'RejectAction'; data: { reason: string }; metadata: CommandMetadata }
  | { type: 'ExpireAction'; data: Record<string, never>; metadata: CommandMetadata }
  /** `byAdmin` comes from the caller's role, checked by the HTTP layer. */
  | { type: 'CancelAction'; data: { reason?: string; byAdmin: boolean }; metadata: CommandMetadata }
  /** `retryFailed`: an operator replays an execution that failed for good (a dead-lettered job). */
  | { type: 'StartActionExecution'; data: { retryFailed?: boolean }; metadata: CommandMetadata }
  | { type: 'RecordActionExecuted'; data: { result: Json }; metadata: CommandMetadata }
  | { type: 'RecordActionExecutionFailed'; data: { error: string; final: boolean }; metadata: CommandMetadata }
  /** An operator's decision to execute a failed action again (after the receiver was fixed, say). */
  | { type: 'RetryActionExecution'; data: { reason?: string }; metadata: CommandMetadata }
  /** A person carried out an approved manual action (or could not): its execution, recorded in one go. */
  | { type: 'RecordManualOutcome'; data: { outcome: 'executed'; result: Json } | { outcome: 'failed'; error: string }; metadata: CommandMetadata };

type Existing = Exclude<ActionState, { status: 'None' }>;

/** What the decider weighs proposals with: the kinds that may be proposed and the risk policy. */
export interface ActionRules {
  kinds: ActionKinds;
  policy: RiskPolicy;
}

export function actionDecider({ kinds = defaultActionKinds, policy = defaultRiskPolicy }: Partial<ActionRules> = {}): Decider<ActionCommand, ActionEvent, ActionState> {
  const rules = { kinds, policy };
  return stampingVersions({ initialState: initialActionState, snapshot: { name: 'action', version: 1 }, evolve: evolveAction, decide: (command, state) => decideAction(rules, command, state) });
}

/**
 * Only a proposal is checked against the kinds: events of kinds proposed before (or since removed)
 * still evolve, so old streams load and their actions can be settled.
 */
export function decideAction(rules: ActionRules, command: ActionCommand, state: ActionState): ActionEvent[] {
  const metadata = eventMetadata(command.metadata);
  const actor = command.metadata.actor;
  if (command.type === 'ProposeAction') return propose(rules, command, state, metadata);
  if (state.status === 'None') throw new NotFoundError('ACTION.NOT_FOUND', 'No such action');
  const actionId = state.actionId;

  switch (command.type) {
    case 'ApproveAction': {
      assertAwaitingApproval(state);
      if (state.expiresAt && command.metadata.now >= state.expiresAt) throw new IllegalStateError('ACTION.APPROVAL_EXPIRED', 'The approval deadline has passed');
      if (actor.id === state.proposedBy.id) throw new IllegalStateError('ACTION.SELF_APPROVAL', 'Nobody approves their own proposal');
      if (state.approverIds.includes(actor.id)) throw new IllegalStateError('ACTION.ALREADY_APPROVED', 'You have approved this action already');
      const note = command.data.note?.trim();
      const given: ActionEvent = { type: 'ActionApprovalGiven', data: { actionId, approverId: actor.id, ...(note ? { note } : {}) }, metadata };
      const approverIds = [...state.approverIds, actor.id];
      if (approverIds.length < state.approvalsRequired) return [given];
      return [given, { type: 'ActionApproved', data: { actionId, by: 'approvers', approverIds }, metadata }];
    }
    case 'RejectAction': {
      assertAwaitingApproval(state);
      const reason = command.data.reason.trim();
      if (!reason) throw new ValidationError('ACTION.REASON_REQUIRED', 'A rejection needs a reason', 'reason');
      return [{ type: 'ActionRejected', data: { actionId, rejectedBy: actor.id, reason }, metadata }];
    }
    case 'ExpireAction':
      // Sent by a delayed job at the deadline: harmless once the approval is settled.
      if (state.status !== 'AwaitingApproval' || !state.expiresAt) return [];
      if (command.metadata.now < state.expiresAt) throw new IllegalStateError('ACTION.NOT_DUE', `The approval expires at ${state.expiresAt}`);
      return [{ type: 'ActionExpired', data: { actionId, expiresAt: state.expiresAt }, metadata }];
    case 'CancelAction': {
      if (actor.id !== state.proposedBy.id && !command.data.byAdmin) {
        throw new ForbiddenError('ACTION.CANCEL_FORBIDDEN', 'Only the proposer or an admin may cancel an action');
      }
      if (state.status !== 'AwaitingApproval' && state.status !== 'Approved') {
        throw new IllegalStateError('ACTION.CANNOT_CANCEL', `An action that is ${state.status} can no longer be cancelled`);
      }
      const reason = command.data.reason?.trim();
      return [{ type: 'ActionCancelled', data: { actionId, cancelledBy: actor.id, ...(reason ? { reason } : {}) }, metadata }];
    }
    case 'StartActionExecution':
      if (state.status === 'Executed') return []; // done already: a job that ran twice
      // Executing again means the previous attempt's worker died: this is the next attempt.
      if (state.status !== 'Approved' && state.status !== 'Executing' && !(state.status === 'Failed' && command.data.retryFailed)) {
        throw new IllegalStateError('ACTION.NOT_APPROVED', `The action is ${state.status}`);
      }
      return [{ type: 'ActionExecutionStarted', data: { actionId, attempt: state.attempts + 1 }, metadata }];
    case 'RecordActionExecuted':
      if (state.status === 'Executed') return [];
      assertExecuting(state);
      return [{ type: 'ActionExecuted', data: { actionId, attempt: state.attempts, result: command.data.result }, metadata }];
    case 'RecordActionExecutionFailed':
      if (state.status === 'Executed' || state.status === 'Failed') return [];
      assertExecuting(state);
      return [{ type: 'ActionExecutionFailed', data: { actionId, attempt: state.attempts, error: command.data.error, final: command.data.final }, metadata }];
    case 'RetryActionExecution': {
      if (state.status !== 'Failed') throw new IllegalStateError('ACTION.NOT_FAILED', `Only a failed execution is tried again; the action is ${state.status}`);
      const reason = command.data.reason?.trim();
      return [{ type: 'ActionExecutionRetried', data: { actionId, retriedBy: actor.id, ...(reason ? { reason } : {}) }, metadata }];
    }
    case 'RecordManualOutcome': {
      const execution = rules.kinds.get(state.kind)?.execution ?? 'none';
      if (execution !== 'manual') throw new IllegalStateError('ACTION.NOT_MANUAL', `Actions of kind ${state.kind} are not executed by people (execution: ${execution})`);
      // Executing: an attempt was started before the kind became manual; its outcome is this one.
      if (state.status !== 'Approved' && state.status !== 'Executing') throw new IllegalStateError('ACTION.NOT_APPROVED', `The action is ${state.status}`);
      const started: ActionEvent[] = state.status === 'Approved' ? [{ type: 'ActionExecutionStarted', data: { actionId, attempt: state.attempts + 1 }, metadata }] : [];
      const attempt = state.status === 'Approved' ? state.attempts + 1 : state.attempts;
      const outcome = command.data;
      const ended: ActionEvent =
        outcome.outcome === 'executed'
          ? { type: 'ActionExecuted', data: { actionId, attempt, result: outcome.result }, metadata }
          : { type: 'ActionExecutionFailed', data: { actionId, attempt, error: outcome.error.trim(), final: true }, metadata };
      return [...started, ended];
    }
    default: {
      const _exhaustive: never = command;
      throw new Error(`unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

function propose(
  { kinds, policy }: ActionRules,
  command: Extract<ActionCommand, { type: 'ProposeAction' }>,
  state: ActionState,
  metadata: ActionEvent['metadata'],
): ActionEvent[] {
  const { actionId, dealId, title, deal } = command.data;
  // The request is checked before the state: a proposal that cannot fit is refused as such.
  const kind = kinds.get(command.data.kind);
  if (!kind) {
    throw new ValidationError('ACTION.UNKNOWN_KIND', 'Unknown action kind', 'kind', [
      { field: 'kind', message: `${command.data.kind} is not a known action kind; the kinds are ${[...kinds.keys()].join(', ')} (GET /api/action-kinds)` },
    ]);
  }
  const parsed = kind.payload.safeParse(command.data.payload);
  if (!parsed.success) {
    throw new ValidationError(
      'ACTION.INVALID_PAYLOAD',
      'The payload does not fit its action kind',
      'payload',
      parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ field: ['payload', ...issue.path, key].map(String).join('.'), message: `is not a field of a ${kind.name} payload` }))
          : [{ field: ['payload', ...issue.path].map(String).join('.'), message: issue.message }],
      ),
    );
  }
  if (state.status !== 'None') throw new IllegalStateError('ACTION.ALREADY_EXISTS', 'The action exists already');
  if (deal.status === 'none') throw new NotFoundError('DEAL.NOT_FOUND', 'No such deal');
  if (deal.status !== 'open') throw new IllegalStateError('ACTION.DEAL_NOT_OPEN', `Actions are proposed on open deals; this one is ${deal.status}`);
  // The payload as checked (trimmed): what is executed is what was checked.
  const payload = parsed.data;
  const assessment = assessRisk(policy, { kind, amount: deal.amount, stage: deal.stage, now: command.metadata.now });
  const events: ActionEvent[] = [
    { type: 'ActionProposed', data: { actionId, dealId, kind: kind.name, title, payload, proposedBy: command.metadata.actor }, metadata },
    { type: 'ActionRiskAssessed', data: { actionId, risk: assessment.risk, reasons: assessment.reasons, approvalsRequired: assessment.approvalsRequired }, metadata },
  ];
  if (!assessment.expiresAt) events.push({ type: 'ActionApproved', data: { actionId, by: 'policy', approverIds: [] }, metadata });
  else events.push({ type: 'ActionApprovalRequested', data: { actionId, approvalsRequired: assessment.approvalsRequired, expiresAt: assessment.expiresAt }, metadata });
  return events;
}

function assertAwaitingApproval(state: Existing): void {
  if (state.status !== 'AwaitingApproval') throw new IllegalStateError('ACTION.NOT_AWAITING_APPROVAL', `The action is ${state.status}`);
}

function assertExecuting(state: Existing): void {
  if (state.status !== 'Executing') throw new IllegalStateError('ACTION.NOT_EXECUTING', `The action is ${state.status}`);
}
