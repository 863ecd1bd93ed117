import { expect } from 'chai';
import { dealDecider, type DealCommand } from '../../../src/domain/deals/deal.decider.js';
import type { DealEvent } from '../../../src/domain/deals/deal.events.js';
import { DealClosedV1 } from '../../../src/domain/deals/deal.upcasters.js';
import type { CommandMetadata } from '../../../src/domain/shared/event.js';
import { eventVersions, upcast } from '../../../src/domain/upcasters.js';

const dealId = 'deal-1';
const at = '2026-11-22T10:00:00.000Z';
const command: CommandMetadata = { actor: { kind: 'user', id: 'ana' }, now: at, correlationId: 'c', causationId: 'r' };
const metadata = { actor: command.actor, correlationId: 'c', causationId: 'r', occurredAt: at, schemaVersion: 1 };
const created: DealEvent = {
  type: 'DealCreated',
  data: { dealId, name: 'Acme', company: 'Acme Ltd', amount: { amount: '100', currency: 'USD' }, ownerId: 'ana', tags: [], stage: 'sourcing' },
  metadata,
};
const movedToDiligence: DealEvent = { type: 'DealStageChanged', data: { dealId, from: 'sourcing', to: 'diligence' }, metadata };
/** As the log holds it from before version 2: `from`, and version 1 (or no version at all). */
const lostV1 = { type: 'DealClosed', data: { dealId, outcome: 'lost', from: 'diligence', reason: 'Budget cut' }, metadata };

describe('deal upcasters: DealClosed version 1 (`from`) read as version 2 (`fromStage`)', () => {
  it('is at version 2, and the decider writes that version with `fromStage`', () => {
    expect(eventVersions.currentVersion('DealClosed')).to.equal(2);
    expect(eventVersions.currentVersion('DealStageChanged')).to.equal(1);
    const state = [created, movedToDiligence].reduce(dealDecider.evolve, dealDecider.initialState);
    const [closed] = dealDecider.decide({ type: 'ChangeDealStage', data: { to: 'lost', reason: 'Budget cut' }, metadata: command }, state);
    expect(closed).to.deep.equal({ type: 'DealClosed', data: { dealId, outcome: 'lost', fromStage: 'diligence', reason: 'Budget cut' }, metadata: { ...metadata, schemaVersion: 2 } });
    // The other events of the same decider keep version 1.
    const [moved] = dealDecider.decide({ type: 'ChangeDealStage', data: { to: 'negotiation' }, metadata: command }, state);
    expect(moved!.metadata.schemaVersion).to.equal(1);
  });

  it('renames `from` to `fromStage`, keeping the rest, whether the version is 1 or missing', () => {
    expect(DealClosedV1.safeParse(lostV1.data).success).to.equal(true);
    const expected = { ...lostV1, data: { dealId, outcome: 'lost', fromStage: 'diligence', reason: 'Budget cut' }, metadata: { ...metadata, schemaVersion: 2 } };
    expect(upcast(lostV1)).to.deep.equal(expected);
    const { schemaVersion: _, ...unversioned } = metadata;
    expect(upcast({ ...lostV1, metadata: unversioned })).to.deep.equal(expected);
    const won = { type: 'DealClosed', data: { dealId, outcome: 'won', from: 'closing' }, metadata };
    expect(upcast(won).data).to.deep.equal({ dealId, outcome: 'won', fromStage: 'closing' });
  });

  it('lets a deal lost in version 1 be reopened into the stage it was lost from', () => {
    const history = [created, movedToDiligence, upcast(lostV1) as DealEvent];
    const state = history.reduce(dealDecider.evolve, dealDecider.initialState);
    expect(state).to.deep.include({ status: 'lost', lostFrom: 'diligence' });
    const reopen: DealCommand = { type: 'ReopenDeal', data: { reason: 'Budget is back' }, metadata: command };
    expect(dealDecider.decide(reopen, state).map((event) => event.data)).to.deep.equal([{ dealId, stage: 'diligence', reason: 'Budget is back' }]);
  });
});
