import { expect } from 'chai';
import { ContentionError, IllegalStateError } from '../../src/domain/shared/errors.js';
import { PermanentFailure, executors } from '../../src/workers/executors.js';
import type { JobContext } from '../../src/workers/job-context.js';
import { rejectionOf } from '../support/async.js';

/** How an internal executor's failures end a job: a rule's refusal for good, a contended stream for another attempt. */
describe('internal executors: which failures are final', () => {
  const action = { actionId: 'a1', dealId: 'd1', kind: 'add_note', payload: { text: 'hello' }, attempt: 1 };
  const failingWith = (error: Error) => ({ send: () => Promise.reject(error) }) as unknown as JobContext;

  it('ends the job for good on a rule of the domain', async () => {
    const error = await rejectionOf(executors({}).add_note!(action, failingWith(new IllegalStateError('DEAL.CLOSED', 'closed'))));
    expect(error).to.be.instanceOf(PermanentFailure);
  });

  it('leaves a contended stream to the next attempt', async () => {
    const contended = new ContentionError('deal-d1 changed under 10 attempts in a row; try again');
    const error = await rejectionOf(executors({}).add_note!(action, failingWith(contended)));
    expect(error).to.equal(contended);
    expect(error).not.to.be.instanceOf(PermanentFailure);
  });
});
