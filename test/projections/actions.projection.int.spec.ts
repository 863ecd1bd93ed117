import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { actionsProjection } from '../../src/projections/actions/actions.projection.js';
import { projectionHarness, recorded, type ProjectionHarness } from '../support/projection.js';

const T0 = '2026-11-22T10:00:00.000Z';
const T1 = '2026-11-22T11:00:00.000Z';
const T2 = '2026-11-22T12:00:00.000Z';
const T3 = '2026-11-22T13:00:00.000Z';
const DEADLINE = '2026-11-23T10:00:00.000Z';
const scout = { kind: 'agent', id: 'scout' };

describe('actions projection', () => {
  let h: ProjectionHarness;
  before(async () => {
    h = await projectionHarness([actionsProjection]);
  });
  after(() => h.close());

  /** One action's events, each at its own time; `actionId` is filled in. */
  function stream() {
    const actionId = randomUUID();
    const event = (type: string, data: Record<string, unknown>, at = T0, actor = { kind: 'user', id: 'ana' }) =>
      recorded(`action-${actionId}`, type, { actionId, ...data }, { at, actor });
    return {
      actionId,
      proposed: () =>
        event('ActionProposed', { dealId: 'deal-1', kind: 'send_email', title: 'Email the CFO', payload: { to: 'cfo@acme.test' }, proposedBy: scout }, T0, scout),
      assessed: (risk: string, approvalsRequired: number) =>
        event('ActionRiskAssessed', { risk, reasons: [`kind send_email is ${risk} risk`], approvalsRequired }, T0, scout),
      requested: (approvalsRequired: number) => event('ActionApprovalRequested', { approvalsRequired, expiresAt: DEADLINE }, T0, scout),
      given: (approverId: string, at: string, note?: string) =>
        event('ActionApprovalGiven', { approverId, ...(note ? { note } : {}) }, at, { kind: 'user', id: approverId }),
      approved: (by: string, approverIds: string[], at = T0) => event('ActionApproved', { by, approverIds }, at),
      event,
    };
  }

  async function row(actionId: string) {
    const [found] = await h.knex('read.actions').where('action_id', actionId);
    return found as Record<string, unknown>;
  }

  it('records a proposal awaiting approval: risk, reasons, approvals required and the deadline', async () => {
    const a = stream();
    await h.given(a.proposed(), a.assessed('medium', 1), a.requested(1));
    expect(await row(a.actionId)).to.deep.equal({
      action_id: a.actionId,
      deal_id: 'deal-1',
      kind: 'send_email',
      title: 'Email the CFO',
      payload: { to: 'cfo@acme.test' },
      status: 'AwaitingApproval',
      risk: 'medium',
      risk_rank: 1,
      risk_reasons: ['kind send_email is medium risk'],
      approvals_required: 1,
      approver_ids: [],
      approved_by: null,
      proposed_by_id: 'scout',
      proposed_by_kind: 'agent',
      expires_at: new Date(DEADLINE),
      attempts: 0,
      result: null,
      error: null,
      rejected_by: null,
      rejection_reason: null,
      cancelled_by: null,
      cancel_reason: null,
      proposed_at: new Date(T0),
      updated_at: new Date(T0),
      revision: '2',
    });
  });

  it('records a low-risk proposal approved by policy, with no deadline', async () => {
    const a = stream();
    await h.given(a.proposed(), a.assessed('low', 0), a.approved('policy', []));
    expect(await row(a.actionId)).to.include({ status: 'Approved', approved_by: 'policy', risk_rank: 0, expires_at: null, revision: '2' });
  });

  it('collects approvals given across batches until the action is approved', async () => {
    const a = stream();
    await h.given(a.proposed(), a.assessed('critical', 2), a.requested(2));
    await h.given(a.given('ana', T1, 'looks right'));
    expect(await row(a.actionId)).to.deep.include({ status: 'AwaitingApproval', approver_ids: ['ana'], expires_at: new Date(DEADLINE), updated_at: new Date(T1) });

    await h.given(a.given('bo', T2), a.approved('approvers', ['ana', 'bo'], T2));
    expect(await row(a.actionId)).to.deep.include({
      status: 'Approved', approved_by: 'approvers', risk: 'critical', risk_rank: 3, approver_ids: ['ana', 'bo'], expires_at: null, updated_at: new Date(T2), revision: '5',
    });
    expect(await h.rows('action_approvals', 'at').then((rows) => rows.filter((r) => r.action_id === a.actionId))).to.deep.equal([
      { action_id: a.actionId, approver_id: 'ana', note: 'looks right', at: new Date(T1) },
      { action_id: a.actionId, approver_id: 'bo', note: null, at: new Date(T2) },
    ]);
  });

  it('counts an approval delivered twice once', async () => {
    const a = stream();
    await h.given(a.proposed(), a.assessed('critical', 2), a.requested(2), a.given('ana', T1), a.given('ana', T1));
    expect(await row(a.actionId)).to.deep.include({ approver_ids: ['ana'] });
    expect(await h.knex('read.action_approvals').where('action_id', a.actionId).count({ n: '*' })).to.deep.equal([{ n: '1' }]);
  });

  it('records a rejection with who and why, ending the deadline', async () => {
    const a = stream();
    await h.given(a.proposed(), a.assessed('high', 1), a.requested(1), a.event('ActionRejected', { rejectedBy: 'bo', reason: 'wrong recipient' }, T1));
    expect(await row(a.actionId)).to.include({ status: 'Rejected', rejected_by: 'bo', rejection_reason: 'wrong recipient', expires_at: null });
  });

  it('records an expiry, ending the deadline', async () => {
    const a = stream();
    await h.given(a.proposed(), a.assessed('high', 1), a.requested(1));
    await h.given(a.event('ActionExpired', { expiresAt: DEADLINE }, DEADLINE, { kind: 'worker', id: 'expirer' }));
    expect(await row(a.actionId)).to.deep.include({ status: 'Expired', expires_at: null, updated_at: new Date(DEADLINE) });
  });

  it('records a cancellation with or without a reason', async () => {
    const a = stream();
    const b = stream();
    await h.given(
      a.proposed(), a.assessed('medium', 1), a.requested(1), a.event('ActionCancelled', { cancelledBy: 'scout', reason: 'not needed' }, T1),
      b.proposed(), b.assessed('low', 0), b.approved('policy', []), b.event('ActionCancelled', { cancelledBy: 'root' }, T1),
    );
    expect(await row(a.actionId)).to.include({ status: 'Cancelled', cancelled_by: 'scout', cancel_reason: 'not needed', expires_at: null });
    expect(await row(b.actionId)).to.include({ status: 'Cancelled', cancelled_by: 'root', cancel_reason: null });
  });

  it('follows execution: a retried failure goes back to approved, a success keeps the result and clears the error', async () => {
    const a = stream();
    await h.given(
      a.proposed(), a.assessed('low', 0), a.approved('policy', []),
      a.event('ActionExecutionStarted', { attempt: 1 }, T1),
      a.event('ActionExecutionFailed', { attempt: 1, error: 'SMTP timeout', final: false }, T1),
    );
    expect(await row(a.actionId)).to.include({ status: 'Approved', attempts: 1, error: 'SMTP timeout' });
    await h.given(a.event('ActionExecutionStarted', { attempt: 2 }, T2));
    expect(await row(a.actionId)).to.include({ status: 'Executing', attempts: 2, error: 'SMTP timeout' });
    await h.given(a.event('ActionExecuted', { attempt: 2, result: { messageId: 'm-1' } }, T3));
    expect(await row(a.actionId)).to.deep.include({ status: 'Executed', attempts: 2, result: { messageId: 'm-1' }, error: null, updated_at: new Date(T3), revision: '6' });
  });

  it('records a final failure', async () => {
    const a = stream();
    await h.given(
      a.proposed(), a.assessed('low', 0), a.approved('policy', []),
      a.event('ActionExecutionStarted', { attempt: 1 }, T1),
      a.event('ActionExecutionFailed', { attempt: 1, error: 'mailbox gone', final: true }, T2),
    );
    expect(await row(a.actionId)).to.include({ status: 'Failed', attempts: 1, error: 'mailbox gone', result: null });
  });

  it('skips events of an action it never saw proposed', async () => {
    const a = stream();
    await h.given(a.assessed('high', 1), a.given('ana', T1));
    expect(await row(a.actionId)).to.equal(undefined);
    expect(await h.knex('read.action_approvals').where('action_id', a.actionId)).to.deep.equal([]);
  });
});
