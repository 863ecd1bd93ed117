import { expect } from 'chai';
import { actionKinds, defaultActionKinds } from '../../src/domain/actions/action-kinds.js';
import { ContentionError, IllegalStateError } from '../../src/domain/shared/errors.js';
import { PermanentFailure, executors } from '../../src/workers/executors.js';
import type { JobContext } from '../../src/workers/job-context.js';
import { rejectionOf } from '../support/async.js';

/** How an internal executor's failures end a job: a rule's refusal for good, a contended stream for another attempt. */
describe('internal executors: which failures are final', () => {
  const action = { actionId: 'a1', dealId: 'd1', kind: 'add_note', payload: { text: 'hello' }, attempt: 1, onBehalfOf: { actionId: 'a1', approvedBy: 'policy' as const, approverIds: [] } };
  const failingWith = (error: Error) => ({ send: () => Promise.reject(error) }) as unknown as JobContext;

  it('ends the job for good on a rule of the domain', async () => {
    const error = await rejectionOf(executors(defaultActionKinds, {}).add_note!(action, failingWith(new IllegalStateError('DEAL.CLOSED', 'closed'))));
    expect(error).to.be.instanceOf(PermanentFailure);
  });

  it('leaves a contended stream to the next attempt', async () => {
    const contended = new ContentionError('deal-d1 changed under 10 attempts in a row; try again');
    const error = await rejectionOf(executors(defaultActionKinds, {}).add_note!(action, failingWith(contended)));
    expect(error).to.equal(contended);
    expect(error).not.to.be.instanceOf(PermanentFailure);
  });
});

describe('internal executors: what they send', () => {
  it("sends the deal's command on the action's behalf, reading an older proposal's payload without the fields it does not know", async () => {
    const sent: unknown[][] = [];
    const context = { send: (...args: unknown[]) => (sent.push(args), Promise.resolve({ revision: 1n, position: null, events: [] })) } as unknown as JobContext;
    const onBehalfOf = { actionId: 'a1', approvedBy: 'approvers' as const, approverIds: ['ana', 'bo'] };
    const action = { actionId: 'a1', dealId: 'd1', kind: 'change_stage', payload: { to: 'diligence', note: 'proposed when fields went unchecked' }, attempt: 1, onBehalfOf };
    expect(await executors(defaultActionKinds, {}).change_stage!(action, context)).to.deep.equal({ stage: 'diligence' });
    const [[streamId, , command, step, options]] = sent as [[string, unknown, unknown, string, unknown]];
    expect([streamId, command, step, options]).to.deep.equal(['deal-d1', { type: 'ChangeDealStage', data: { to: 'diligence' } }, 'change_stage', { onBehalfOf }]);
  });
});

describe('executors: one for each kind a machine executes', () => {
  it('has one for every internal kind and every kind with an HTTP executor, and none for manual kinds', () => {
    const urls = { send_email: 'https://mailer.example/execute', send_fax: 'https://fax.example/execute', change_stage: 'https://ignored.example' };
    const kinds = actionKinds({ httpExecutors: Object.keys(urls) });
    expect(Object.keys(executors(kinds, urls)).sort()).to.deep.equal(['add_note', 'assign_owner', 'change_stage', 'send_email', 'send_fax']);
    const machine = [...kinds.values()].filter((kind) => kind.execution !== 'manual').map((kind) => kind.name);
    expect(Object.keys(executors(kinds, urls))).to.have.members(machine);
  });
});
