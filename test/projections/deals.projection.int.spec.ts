import { expect } from 'chai';
import { dealsProjection } from '../../src/projections/deals/deals.projection.js';
import { projectionHarness, recorded, type ProjectionHarness } from '../support/projection.js';

describe('deals projection', () => {
  let h: ProjectionHarness;
  beforeEach(async () => {
    h = await projectionHarness([dealsProjection]);
  });
  afterEach(() => h.close());

  const usd = (amount: string) => ({ amount, currency: 'USD' });
  const created = (dealId: string, amount = '1000.50', at = '2026-11-22T10:00:00.000Z') =>
    recorded(`deal-${dealId}`, 'DealCreated', { dealId, name: `Deal ${dealId}`, company: 'Acme Ltd', amount: usd(amount), ownerId: 'ana', tags: ['saas'], stage: 'sourcing' }, { at });
  const moved = (dealId: string, from: string, to: string, reason?: string) =>
    recorded(`deal-${dealId}`, 'DealStageChanged', { dealId, from, to, ...(reason ? { reason } : {}) }, { at: '2026-11-22T11:00:00.000Z', actor: { kind: 'user', id: 'bo' } });
  const pipeline = () => h.rows<{ stage: string; currency: string; deals: string; total: string }>('pipeline', 'stage, currency');

  it('creates a deal row in sourcing, with its first stage in the history', async () => {
    await h.given(created('d1'));
    const [deal] = await h.rows('deals');
    expect(deal).to.deep.include({ deal_id: 'd1', name: 'Deal d1', company: 'Acme Ltd', amount: '1000.5000', currency: 'USD', owner_id: 'ana', tags: ['saas'], stage: 'sourcing', status: 'open', notes_count: 0, revision: '0', created_by: 'ana' });
    expect(await h.rows('deal_stage_history')).to.have.length(1).and.to.have.nested.property('[0].to_stage', 'sourcing');
    expect(await pipeline()).to.deep.equal([{ stage: 'sourcing', currency: 'USD', deals: '1', total: '1000.5000' }]);
  });

  it('follows updates, owner, notes and stages within one batch and across batches', async () => {
    await h.given(
      created('d1'),
      recorded('deal-d1', 'DealUpdated', { dealId: 'd1', name: 'Renamed', amount: { amount: '2000', currency: 'EUR' } }),
      recorded('deal-d1', 'DealOwnerAssigned', { dealId: 'd1', ownerId: 'bo', previousOwnerId: 'ana' }),
      moved('d1', 'sourcing', 'diligence'),
    );
    await h.given(
      recorded('deal-d1', 'DealNoteAdded', { dealId: 'd1', noteId: 'n1', text: 'Call went well', authorId: 'bo' }, { at: '2026-11-22T12:00:00.000Z' }),
      moved('d1', 'diligence', 'screening', 'Numbers changed'),
    );
    const [deal] = await h.rows('deals');
    expect(deal).to.deep.include({ name: 'Renamed', amount: '2000.0000', currency: 'EUR', owner_id: 'bo', stage: 'screening', notes_count: 1, revision: '5' });
    expect((deal as { updated_at: Date }).updated_at.toISOString()).to.equal('2026-11-22T11:00:00.000Z');
    const history = await h.rows<{ from_stage: string | null; to_stage: string; reason: string | null; actor_id: string }>('deal_stage_history', 'revision');
    expect(history.map((step) => [step.from_stage, step.to_stage, step.reason])).to.deep.equal([
      [null, 'sourcing', null],
      ['sourcing', 'diligence', null],
      ['diligence', 'screening', 'Numbers changed'],
    ]);
    expect(await h.rows('deal_notes')).to.have.length(1).and.to.have.nested.property('[0].text', 'Call went well');
    // The first batch nets out everywhere but diligence/EUR; the second moves the deal on from there.
    expect(await pipeline()).to.deep.equal([
      { stage: 'diligence', currency: 'EUR', deals: '0', total: '0.0000' },
      { stage: 'screening', currency: 'EUR', deals: '1', total: '2000.0000' },
    ]);
  });

  it('closes, loses and reopens a deal into the stage it was lost from', async () => {
    await h.given(created('d1'), moved('d1', 'sourcing', 'negotiation'), recorded('deal-d1', 'DealClosed', { dealId: 'd1', outcome: 'lost', fromStage: 'negotiation', reason: 'Budget cut' }));
    expect(await h.rows('deals')).to.have.nested.property('[0].status', 'lost');
    expect(await h.rows('deals')).to.have.nested.property('[0].lost_from', 'negotiation');
    await h.given(recorded('deal-d1', 'DealReopened', { dealId: 'd1', stage: 'negotiation', reason: 'Budget back' }));
    const [deal] = await h.rows('deals');
    expect(deal).to.deep.include({ status: 'open', stage: 'negotiation', lost_from: null });
    const history = await h.rows<{ from_stage: string; to_stage: string }>('deal_stage_history', 'revision');
    expect(history.slice(-2).map((step) => `${step.from_stage}->${step.to_stage}`)).to.deep.equal(['negotiation->lost', 'lost->negotiation']);
  });

  it('reads a deal lost in DealClosed version 1 (`from`, as stored before version 2) as the current shape', async () => {
    await h.given(created('d2'), moved('d2', 'sourcing', 'diligence'), recorded('deal-d2', 'DealClosed', { dealId: 'd2', outcome: 'lost', from: 'diligence', reason: 'Budget cut' }, { schemaVersion: 1 }));
    expect(await h.rows('deals')).to.have.nested.property('[0].lost_from', 'diligence');
  });

  it('names the action a stage change was made for, and its approvers, beside the worker that made it', async () => {
    const onBehalfOf = { actionId: 'a1', approvedBy: 'approvers', approverIds: ['ana', 'bo'] };
    const first = created('d3'); // revisions count in the order events are made
    const byWorker = moved('d3', 'sourcing', 'diligence');
    await h.given(first, { ...byWorker, metadata: { ...byWorker.metadata, actor: { kind: 'worker', id: 'w-1' }, onBehalfOf } });
    const history = await h.rows<{ to_stage: string; actor_id: string; on_behalf_of: unknown }>('deal_stage_history', 'revision');
    expect(history.map((step) => [step.to_stage, step.actor_id, step.on_behalf_of])).to.deep.equal([
      ['sourcing', 'ana', null],
      ['diligence', 'w-1', onBehalfOf],
    ]);
  });

  it('sums the pipeline exactly per stage and currency', async () => {
    await h.given(created('a', '0.1'), created('b', '0.2'), created('c', '999999999999999.9999'));
    await h.given(moved('c', 'sourcing', 'closing'), recorded('deal-c', 'DealClosed', { dealId: 'c', outcome: 'won', fromStage: 'closing' }));
    // closing came and went within one batch: no row for it.
    expect(await pipeline()).to.deep.equal([
      { stage: 'sourcing', currency: 'USD', deals: '2', total: '0.3000' },
      { stage: 'won', currency: 'USD', deals: '1', total: '999999999999999.9999' },
    ]);
  });
});
