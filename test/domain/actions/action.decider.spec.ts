import { expect } from 'chai';
import { actionKinds, defaultActionKinds } from '../../../src/domain/actions/action-kinds.js';
import { actionDecider, type ActionCommand } from '../../../src/domain/actions/action.decider.js';
import type { ActionEvent } from '../../../src/domain/actions/action.events.js';
import { defaultRiskPolicy } from '../../../src/domain/actions/risk-policy.js';
import type { DealState } from '../../../src/domain/deals/deal.state.js';
import { ValidationError } from '../../../src/domain/shared/errors.js';
import type { Actor, CommandMetadata } from '../../../src/domain/shared/event.js';
import { payloadOf, type SampleKind } from '../../support/action-payloads.js';
import { deciderSpec } from '../../support/decider-spec.js';

const given = deciderSpec(actionDecider());
const actionId = 'action-1';
const dealId = 'deal-1';
const at = '2026-11-22T10:00:00.000Z';
const agent: Actor = { kind: 'agent', id: 'agent-scout' };
const ana: Actor = { kind: 'user', id: 'u-ana' };
const bo: Actor = { kind: 'user', id: 'u-bo' };
const by = (actor: Actor, now = at): CommandMetadata => ({ actor, now, correlationId: 'c', causationId: 'r' });
const meta = (actor: Actor, now = at) => ({ actor, correlationId: 'c', causationId: 'r', occurredAt: now, schemaVersion: 1 });

const openDeal = (amount = '500000', stage = 'screening'): Extract<DealState, { status: 'open' | 'won' | 'lost' }> => ({
  status: 'open', dealId, name: 'Acme', company: 'Acme Ltd', amount: { amount, currency: 'USD' }, ownerId: 'u-ana', tags: [], stage: stage as 'screening',
});
const samplePayload = (kind: string) => (defaultActionKinds.has(kind) ? payloadOf(kind as SampleKind) : { amount: '1' });
const propose = (kind: string, deal: DealState = openDeal(), actor: Actor = agent, payload: Record<string, unknown> = samplePayload(kind)): ActionCommand => ({
  type: 'ProposeAction',
  data: { actionId, dealId, kind, title: `Do ${kind}`, payload, deal },
  metadata: by(actor),
});
const proposed = (kind: string, payload: Record<string, unknown> = samplePayload(kind)): ActionEvent => ({
  type: 'ActionProposed', data: { actionId, dealId, kind, title: `Do ${kind}`, payload, proposedBy: agent }, metadata: meta(agent),
});
/** What a proposal is refused with: the code and each field at fault. */
const refusal = (command: ActionCommand, decider = actionDecider()) => {
  try {
    decider.decide(command, { status: 'None' });
  } catch (error) {
    expect(error).to.be.instanceOf(ValidationError);
    const { code, status, errors } = error as ValidationError;
    return { code, status, fields: errors.map((e) => e.field), errors };
  }
  throw new Error('the proposal was accepted');
};
const hours = (n: number) => new Date(Date.parse(at) + n * 3_600_000).toISOString();
const assessed = (risk: 'low' | 'medium' | 'high' | 'critical', reasons: string[], approvalsRequired: number): ActionEvent => ({
  type: 'ActionRiskAssessed', data: { actionId, risk, reasons, approvalsRequired }, metadata: meta(agent),
});
const requested = (approvalsRequired: number, expiresAt: string): ActionEvent => ({
  type: 'ActionApprovalRequested', data: { actionId, approvalsRequired, expiresAt }, metadata: meta(agent),
});

// A medium-risk email awaiting one approval for 72 hours, and a critical one awaiting two for 8 hours.
const awaitingOne = [proposed('send_email'), assessed('medium', ['kind send_email is medium risk'], 1), requested(1, hours(72))];
const awaitingTwo = [proposed('share_data_room'), assessed('critical', ['x'], 2), requested(2, hours(8))];
const given_ = (actor: Actor, note?: string): ActionEvent => ({
  type: 'ActionApprovalGiven', data: { actionId, approverId: actor.id, ...(note ? { note } : {}) }, metadata: meta(actor),
});
const approvedBy = (...actors: Actor[]): ActionEvent => ({
  type: 'ActionApproved', data: { actionId, by: 'approvers', approverIds: actors.map((a) => a.id) }, metadata: meta(actors.at(-1)!),
});
const approved = [...awaitingOne, given_(ana), approvedBy(ana)];
const cmd = (type: ActionCommand['type'], data: object, actor: Actor = ana, now = at) => ({ type, data, metadata: by(actor, now) }) as ActionCommand;

describe('Action decider', () => {
  describe('ProposeAction and the risk policy', () => {
    it('approves a low-risk action by policy at once', () =>
      given([])
        .when(propose('schedule_meeting'))
        .then([
          proposed('schedule_meeting'),
          assessed('low', ['kind schedule_meeting is low risk'], 0),
          { type: 'ActionApproved', data: { actionId, by: 'policy', approverIds: [] }, metadata: meta(agent) },
        ]));
    it('asks one approver for a medium-risk action, with a deadline set by its risk', () =>
      given([]).when(propose('send_email')).then(awaitingOne));
    it('raises the risk for a large deal and a sensitive stage, up to critical with two approvers', () =>
      given([])
        .when(propose('share_data_room', openDeal('25000000', 'negotiation')))
        .then([
          proposed('share_data_room'),
          assessed('critical', ['kind share_data_room is high risk', 'deal amount 25000000 USD is at least 10000000', 'deal is in negotiation'], 2),
          requested(2, hours(8)),
        ]));
    it('weighs a kind with an HTTP executor that dealstream does not describe at the policy\'s unknown-kind risk', () => {
      const withWire = actionDecider({ kinds: actionKinds({ httpExecutors: ['wire_money'] }) });
      expect(withWire.decide(propose('wire_money'), { status: 'None' })[1]!.data).to.deep.equal({
        actionId, risk: 'high', reasons: ['kind wire_money is high risk'], approvalsRequired: 1,
      });
    });
    it('is configurable: base risks in the registry, the rest in the policy', () => {
      const kinds = new Map(defaultActionKinds);
      kinds.set('schedule_meeting', { ...defaultActionKinds.get('schedule_meeting')!, risk: 'critical' });
      expect(actionDecider({ kinds }).decide(propose('schedule_meeting'), { status: 'None' })[1]!.data).to.include({ risk: 'critical', approvalsRequired: 2 });
      const lowBar = { ...defaultRiskPolicy, largeAmount: '100000' };
      expect(actionDecider({ policy: lowBar }).decide(propose('schedule_meeting'), { status: 'None' })[1]!.data).to.include({ risk: 'medium', approvalsRequired: 1 });
    });
    it('refuses an action on a closed deal', () =>
      given([]).when(propose('send_email', { ...openDeal(), status: 'won', stage: 'won' })).thenThrows('ACTION.DEAL_NOT_OPEN', 409));
    it('refuses an action on a deal that does not exist', () =>
      given([]).when(propose('send_email', { status: 'none' })).thenThrows('DEAL.NOT_FOUND', 404));
    it('refuses to propose the same action twice', () => given(awaitingOne).when(propose('send_email')).thenThrows('ACTION.ALREADY_EXISTS', 409));
  });

  describe('ProposeAction and the kinds', () => {
    it('refuses a kind that is not registered, naming `kind` and the kinds there are', () => {
      const refused = refusal(propose('wire_transfer'));
      expect(refused).to.deep.include({ code: 'ACTION.UNKNOWN_KIND', status: 400, fields: ['kind'] });
      expect(refused.errors[0]!.message).to.include('wire_transfer').and.include('add_note, assign_owner, change_stage, request_documents, schedule_meeting, send_email, share_data_room');
    });
    it('refuses a payload that does not fit its kind, naming each field at fault', () => {
      const refused = refusal(propose('change_stage', openDeal(), agent, { to: 'heaven', because: 'why not' }));
      expect(refused).to.deep.include({ code: 'ACTION.INVALID_PAYLOAD', status: 400 });
      expect(refused.fields).to.have.members(['payload.to', 'payload.because']);
      expect(refusal(propose('send_email', openDeal(), agent, { to: ['not an address'], subject: 'Hi' })).fields).to.have.members(['payload.to.0', 'payload.body']);
      expect(refusal(propose('add_note', openDeal(), agent, {})).fields).to.deep.equal(['payload.text']);
    });
    it('checks the request before the deal: a misfitting proposal on a closed deal is refused as misfitting', () =>
      given([]).when(propose('add_note', { ...openDeal(), status: 'won', stage: 'won' }, agent, { text: 1 })).thenThrows('ACTION.INVALID_PAYLOAD', 400));
    it('checks the payload of a manual kind too', () => {
      expect(defaultActionKinds.get('share_data_room')!.execution).to.equal('manual');
      expect(refusal(propose('share_data_room', openDeal(), agent, { recipients: [], access: 'edit' })).fields).to.have.members(['payload.recipients', 'payload.access']);
    });
    it('stores the payload as checked', () => {
      const events = actionDecider().decide(propose('add_note', openDeal(), agent, { text: '  Called the CFO  ' }), { status: 'None' });
      expect(events[0]!.data).to.deep.include({ payload: { text: 'Called the CFO' } });
    });
    it('takes any object for a kind with an HTTP executor that dealstream does not describe', () => {
      const events = actionDecider({ kinds: actionKinds({ httpExecutors: ['send_fax'] }) }).decide(propose('send_fax', openDeal(), agent, { number: '+1 555', pages: [1, 2] }), { status: 'None' });
      expect(events[0]!.data).to.deep.include({ kind: 'send_fax', payload: { number: '+1 555', pages: [1, 2] } });
    });
    it('lets an action of a kind no longer registered evolve and be settled: the check is the proposal\'s only', () => {
      const old = [proposed('wire_transfer', { iban: 'DE00' }), assessed('high', ['kind wire_transfer is unknown: high risk'], 1), requested(1, hours(24))];
      given(old).when(cmd('ApproveAction', {})).then([given_(ana), approvedBy(ana)]);
      given(old).when(cmd('RejectAction', { reason: 'No wires' })).then([{ type: 'ActionRejected', data: { actionId, rejectedBy: 'u-ana', reason: 'No wires' }, metadata: meta(ana) }]);
    });
  });

  describe('ApproveAction', () => {
    it('approves with the one approval needed', () =>
      given(awaitingOne).when(cmd('ApproveAction', { note: 'ok' })).then([given_(ana, 'ok'), approvedBy(ana)]));
    it('needs two different approvers when critical', () => {
      given(awaitingTwo).when(cmd('ApproveAction', {})).then([given_(ana)]);
      given([...awaitingTwo, given_(ana)]).when(cmd('ApproveAction', {}, bo)).then([given_(bo), approvedBy(ana, bo)]);
    });
    it('refuses a second approval by the same approver', () =>
      given([...awaitingTwo, given_(ana)]).when(cmd('ApproveAction', {})).thenThrows('ACTION.ALREADY_APPROVED', 409));
    it('refuses self-approval', () => given(awaitingOne).when(cmd('ApproveAction', {}, agent)).thenThrows('ACTION.SELF_APPROVAL', 409));
    it('refuses an approval after the deadline', () =>
      given(awaitingOne).when(cmd('ApproveAction', {}, ana, hours(72))).thenThrows('ACTION.APPROVAL_EXPIRED', 409));
    it('refuses to approve an action no longer awaiting approval', () =>
      given(approved).when(cmd('ApproveAction', {}, bo)).thenThrows('ACTION.NOT_AWAITING_APPROVAL', 409));
    it('refuses to approve an action that does not exist', () => given([]).when(cmd('ApproveAction', {})).thenThrows('ACTION.NOT_FOUND', 404));
  });

  describe('RejectAction', () => {
    it('rejects with a reason', () =>
      given(awaitingOne)
        .when(cmd('RejectAction', { reason: ' Wrong recipient ' }))
        .then([{ type: 'ActionRejected', data: { actionId, rejectedBy: 'u-ana', reason: 'Wrong recipient' }, metadata: meta(ana) }]));
    it('refuses a rejection without a reason', () => given(awaitingOne).when(cmd('RejectAction', { reason: ' ' })).thenThrows('ACTION.REASON_REQUIRED', 400));
    it('refuses to reject an approved action', () => given(approved).when(cmd('RejectAction', { reason: 'no' })).thenThrows('ACTION.NOT_AWAITING_APPROVAL', 409));
  });

  describe('ExpireAction', () => {
    const worker: Actor = { kind: 'worker', id: 'w-1' };
    it('expires a pending approval at its deadline', () =>
      given(awaitingOne)
        .when(cmd('ExpireAction', {}, worker, hours(72)))
        .then([{ type: 'ActionExpired', data: { actionId, expiresAt: hours(72) }, metadata: meta(worker, hours(72)) }]));
    it('is a harmless no-op once the approval is settled', () => given(approved).when(cmd('ExpireAction', {}, worker, hours(80))).then([]));
    it('refuses to expire before the deadline', () => given(awaitingOne).when(cmd('ExpireAction', {}, worker, hours(1))).thenThrows('ACTION.NOT_DUE', 409));
  });

  describe('CancelAction', () => {
    it('lets the proposer cancel before execution', () =>
      given(awaitingOne)
        .when(cmd('CancelAction', { byAdmin: false, reason: 'Not needed' }, agent))
        .then([{ type: 'ActionCancelled', data: { actionId, cancelledBy: agent.id, reason: 'Not needed' }, metadata: meta(agent) }]));
    it('lets an admin cancel an approved action', () =>
      given(approved)
        .when(cmd('CancelAction', { byAdmin: true }, bo))
        .then([{ type: 'ActionCancelled', data: { actionId, cancelledBy: 'u-bo' }, metadata: meta(bo) }]));
    it('refuses anyone else', () => given(awaitingOne).when(cmd('CancelAction', { byAdmin: false }, bo)).thenThrows('ACTION.CANCEL_FORBIDDEN', 403));
    it('refuses once execution has started', () =>
      given([...approved, { type: 'ActionExecutionStarted', data: { actionId, attempt: 1 }, metadata: meta(bo) }])
        .when(cmd('CancelAction', { byAdmin: true }, bo))
        .thenThrows('ACTION.CANNOT_CANCEL', 409));
  });

  describe('execution', () => {
    const worker: Actor = { kind: 'worker', id: 'w-1' };
    const started = (attempt: number): ActionEvent => ({ type: 'ActionExecutionStarted', data: { actionId, attempt }, metadata: meta(worker) });
    const executed: ActionEvent = { type: 'ActionExecuted', data: { actionId, attempt: 1, result: { messageId: 'm-1' } }, metadata: meta(worker) };
    it('starts an approved action', () => given(approved).when(cmd('StartActionExecution', {}, worker)).then([started(1)]));
    it('starts the next attempt when a worker died mid-attempt', () => given([...approved, started(1)]).when(cmd('StartActionExecution', {}, worker)).then([started(2)]));
    it('refuses to start an action awaiting approval', () => given(awaitingOne).when(cmd('StartActionExecution', {}, worker)).thenThrows('ACTION.NOT_APPROVED', 409));
    it('records the result once', () => {
      given([...approved, started(1)]).when(cmd('RecordActionExecuted', { result: { messageId: 'm-1' } }, worker)).then([executed]);
      given([...approved, started(1), executed]).when(cmd('RecordActionExecuted', { result: {} }, worker)).then([]);
      given([...approved, started(1), executed]).when(cmd('StartActionExecution', {}, worker)).then([]);
    });
    it('records a failure; one that is not final leaves the action approved for another attempt', () => {
      const failed: ActionEvent = { type: 'ActionExecutionFailed', data: { actionId, attempt: 1, error: 'SMTP 451', final: false }, metadata: meta(worker) };
      given([...approved, started(1)]).when(cmd('RecordActionExecutionFailed', { error: 'SMTP 451', final: false }, worker)).then([failed]);
      given([...approved, started(1), failed]).when(cmd('StartActionExecution', {}, worker)).then([started(2)]);
    });
    it('starts a failed action again only when an operator replays it', () => {
      const failedForGood: ActionEvent = { type: 'ActionExecutionFailed', data: { actionId, attempt: 1, error: 'SMTP 550', final: true }, metadata: meta(worker) };
      given([...approved, started(1), failedForGood]).when(cmd('StartActionExecution', {}, worker)).thenThrows('ACTION.NOT_APPROVED', 409);
      given([...approved, started(1), failedForGood]).when(cmd('StartActionExecution', { retryFailed: true }, worker)).then([started(2)]);
      given(awaitingOne).when(cmd('StartActionExecution', { retryFailed: true }, worker)).thenThrows('ACTION.NOT_APPROVED', 409);
    });
    it('lets an operator retry a failed execution: approved again, then its next attempt', () => {
      const failedForGood: ActionEvent = { type: 'ActionExecutionFailed', data: { actionId, attempt: 1, error: 'SMTP 550', final: true }, metadata: meta(worker) };
      const retried: ActionEvent = { type: 'ActionExecutionRetried', data: { actionId, retriedBy: bo.id, reason: 'mailbox fixed' }, metadata: meta(bo) };
      given([...approved, started(1), failedForGood]).when(cmd('RetryActionExecution', { reason: ' mailbox fixed ' }, bo)).then([retried]);
      given([...approved, started(1), failedForGood, retried]).when(cmd('StartActionExecution', {}, worker)).then([started(2)]);
      given([...approved, started(1), failedForGood, retried]).when(cmd('RetryActionExecution', {}, bo)).thenThrows('ACTION.NOT_FAILED', 409);
      given(approved).when(cmd('RetryActionExecution', {}, bo)).thenThrows('ACTION.NOT_FAILED', 409);
    });
    it('refuses a manual outcome for an action a machine executes', () => {
      const stageChange = [proposed('change_stage'), assessed('medium', [], 1), requested(1, hours(72)), given_(ana), approvedBy(ana)];
      given(stageChange).when(cmd('RecordManualOutcome', { outcome: 'executed', result: {} }, bo)).thenThrows('ACTION.NOT_MANUAL', 409);
      // send_email is manual only while no HTTP executor is configured for it.
      const mailed = deciderSpec(actionDecider({ kinds: actionKinds({ httpExecutors: ['send_email'] }) }));
      mailed(approved).when(cmd('RecordManualOutcome', { outcome: 'executed', result: {} }, bo)).thenThrows('ACTION.NOT_MANUAL', 409);
    });
    it('refuses a result for an action not executing', () =>
      given(approved).when(cmd('RecordActionExecuted', { result: {} }, worker)).thenThrows('ACTION.NOT_EXECUTING', 409));
  });

  describe('RecordManualOutcome', () => {
    // share_data_room has no executor by default: a person carries it out.
    const awaiting = [proposed('share_data_room'), assessed('high', ['kind share_data_room is high risk'], 1), requested(1, hours(24))];
    const approvedManual = [...awaiting, given_(ana), approvedBy(ana)];
    const started = (attempt: number, actor = bo): ActionEvent => ({ type: 'ActionExecutionStarted', data: { actionId, attempt }, metadata: meta(actor) });
    it('records an executed action as started and executed, by the person who did it', () =>
      given(approvedManual)
        .when(cmd('RecordManualOutcome', { outcome: 'executed', result: { shared: 3 } }, bo))
        .then([started(1), { type: 'ActionExecuted', data: { actionId, attempt: 1, result: { shared: 3 } }, metadata: meta(bo) }]));
    it('records a failure as final; an operator may have it tried again, and the next outcome is the next attempt', () => {
      const failed: ActionEvent = { type: 'ActionExecutionFailed', data: { actionId, attempt: 1, error: 'The data room is locked', final: true }, metadata: meta(bo) };
      given(approvedManual).when(cmd('RecordManualOutcome', { outcome: 'failed', error: ' The data room is locked ' }, bo)).then([started(1), failed]);
      const retried: ActionEvent = { type: 'ActionExecutionRetried', data: { actionId, retriedBy: bo.id }, metadata: meta(bo) };
      given([...approvedManual, started(1), failed, retried])
        .when(cmd('RecordManualOutcome', { outcome: 'executed', result: {} }, bo))
        .then([started(2), { type: 'ActionExecuted', data: { actionId, attempt: 2, result: {} }, metadata: meta(bo) }]);
    });
    it('refuses an outcome before approval, and a second one', () => {
      given(awaiting).when(cmd('RecordManualOutcome', { outcome: 'executed', result: {} }, bo)).thenThrows('ACTION.NOT_APPROVED', 409);
      const executed: ActionEvent = { type: 'ActionExecuted', data: { actionId, attempt: 1, result: {} }, metadata: meta(bo) };
      given([...approvedManual, started(1), executed]).when(cmd('RecordManualOutcome', { outcome: 'failed', error: 'x' }, bo)).thenThrows('ACTION.NOT_APPROVED', 409);
    });
    it('refuses an outcome for an action of a kind that is not registered', () =>
      given([proposed('wire_transfer', {}), assessed('high', [], 1), requested(1, hours(24)), given_(ana), approvedBy(ana)])
        .when(cmd('RecordManualOutcome', { outcome: 'executed', result: {} }, bo))
        .thenThrows('ACTION.NOT_MANUAL', 409));
  });
});
