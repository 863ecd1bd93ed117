import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { evolveAction, initialActionState } from '../../src/domain/actions/action.state.js';
import type { ActionEvent } from '../../src/domain/actions/action.events.js';
import type { DealEvent } from '../../src/domain/deals/deal.events.js';
import { evolveDeal, initialDealState } from '../../src/domain/deals/deal.state.js';
import type { RecordedEvent } from '../../src/eventstore/contract.js';
import { collect, patient } from '../support/async.js';
import { dealActivity, startAuditApp, type AuditApp } from './audit-app.js';

/** The state after exactly these events, folded here with the domain's evolve, as the answer shows it: amounts canonical, lostFrom always there. */
function foldedDeal(events: RecordedEvent[]) {
  const state = events.reduce((folded, event) => evolveDeal(folded, event as unknown as DealEvent), initialDealState);
  if (state.status === 'none') throw new Error('no deal');
  return { ...state, amount: { ...state.amount, amount: state.amount.amount.replace(/\.0+$/, '') }, lostFrom: state.lostFrom ?? null };
}

describe('audit time travel: a deal or an action as it stood', function () {
  this.timeout(patient(30_000));
  let app: AuditApp;
  let ids: Awaited<ReturnType<typeof dealActivity>>;
  let acme: RecordedEvent[];

  before(async () => {
    app = await startAuditApp();
    ids = await dealActivity(app.send);
    await app.send(`/api/deals/${ids.acme}/stage`, { to: 'diligence' }, 'ops');
    await app.send(`/api/deals/${ids.acme}/stage`, { to: 'lost', reason: 'Budget cut' }, 'ops');
    await app.send(`/api/deals/${ids.acme}/reopen`, { reason: 'Budget back' }, 'ops');
    acme = await collect(app.harness.store.readStream(`deal-${ids.acme}`));
  });
  after(() => app.harness.close());

  it('rebuilds a deal at each revision from exactly the events up to it, and says which they were', async () => {
    const states: unknown[] = [];
    for (let revision = 0; revision < acme.length; revision++) {
      const { body } = await app.get(`/api/audit/deals/${ids.acme}/state`, { revision }).expect(200);
      expect(body.state, `revision ${revision}`).to.deep.equal(foldedDeal(acme.slice(0, revision + 1)));
      expect(body).to.include({ streamId: `deal-${ids.acme}`, revision: String(revision) });
      expect(body.events).to.deep.equal(
        acme.slice(0, revision + 1).map((event) => ({
          revision: String(event.revision), id: event.id, type: event.type, position: event.position,
          occurredAt: event.metadata.occurredAt, recordedAt: event.recordedAt.toISOString(),
        })),
      );
      states.push(body.state);
    }
    expect(states.map((state) => (state as { status: string }).status)).to.include.members(['open', 'lost']);
    expect(states[3], 'a later state differs').to.not.deep.equal(states[4]).and.to.not.deep.equal(states.at(-1));
    expect(states[5]).to.deep.include({ status: 'lost', lostFrom: 'diligence' });
    expect(states[0], 'created with "1250000.00": the canonical amount').to.deep.include({ amount: { amount: '1250000', currency: 'USD' }, lostFrom: null });
  });

  it('rebuilds a deal as it stood at an instant, from the events recorded at or before it', async () => {
    for (const [index, event] of acme.entries()) {
      // Events recorded within the same millisecond all belong to that instant.
      const upTo = acme.findLastIndex((other) => other.recordedAt <= event.recordedAt);
      expect(upTo).to.be.at.least(index);
      const { body } = await app.get(`/api/audit/deals/${ids.acme}/state`, { at: event.recordedAt.toISOString() }).expect(200);
      expect(body.revision).to.equal(String(upTo));
      expect(body.state).to.deep.equal(foldedDeal(acme.slice(0, upTo + 1)));
    }
    const inBerlin = new Date(acme[2]!.recordedAt.getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    expect((await app.get(`/api/audit/deals/${ids.acme}/state`, { at: inBerlin }).expect(200)).body.revision, 'an offset names the same instant')
      .to.equal(String(acme.findLastIndex((other) => other.recordedAt <= acme[2]!.recordedAt)));
    const later = await app.get(`/api/audit/deals/${ids.acme}/state`, { at: '2999-01-01T00:00:00Z' }).expect(200);
    expect(later.body.revision).to.equal(String(acme.length - 1));
  });

  it('rebuilds an action through its approval with its own evolve, in the vocabulary of the answers', async () => {
    const email = await collect(app.harness.store.readStream(`action-${ids.email}`));
    const requested = email.findIndex((event) => event.type === 'ActionApprovalRequested');
    const given = email.find((event) => event.type === 'ActionApprovalGiven')!;
    const foldAction = (count: number) => {
      const state = email.slice(0, count).reduce((folded, event) => evolveAction(folded, event as unknown as ActionEvent), initialActionState);
      if (state.status === 'None') throw new Error('no action');
      const { status: _, approvalsRequired, approverIds, expiresAt, ...rest } = state;
      return { ...rest, expiresAt: expiresAt ?? null, approvalsRequired, approverIds };
    };

    const pending = await app.get(`/api/audit/actions/${ids.email}/state`, { revision: requested }).expect(200);
    const required = foldAction(requested + 1).approvalsRequired;
    expect(required).to.be.above(0);
    expect(pending.body.state).to.deep.equal({ ...foldAction(requested + 1), status: 'awaiting_approval', approvals: { required, given: [] } });
    const approved = await app.get(`/api/audit/actions/${ids.email}/state`, { at: email.at(-1)!.recordedAt.toISOString() }).expect(200);
    expect(approved.body.state).to.deep.equal({
      ...foldAction(email.length),
      status: 'approved',
      approvals: { required, given: [{ by: 'ana', at: given.metadata.occurredAt, note: null }] },
    });
    expect(approved.body.state).to.deep.include({ approverIds: ['ana'] }); // deprecated, for one version
  });

  it('answers a state the stream never had, and an unknown deal, with 404 problems naming why', async () => {
    const past = await app.get(`/api/audit/deals/${ids.acme}/state`, { revision: acme.length }).expect(404);
    expect(past.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(past.body).to.deep.include({ type: '/problems/state-not-found', title: 'No such state in the stream', code: 'STREAM.STATE_NOT_FOUND' });
    expect(past.body.errors[0].field).to.equal('revision');
    const before = await app.get(`/api/audit/deals/${ids.acme}/state`, { at: new Date(acme[0]!.recordedAt.getTime() - 1).toISOString() }).expect(404);
    expect(before.body.errors[0].field).to.equal('at');
    const unknown = await app.get(`/api/audit/actions/${randomUUID()}/state`, { revision: 0 }).expect(404);
    expect(unknown.body).to.deep.include({ type: '/problems/stream-not-found', code: 'STREAM.NOT_FOUND' });
  });
});
