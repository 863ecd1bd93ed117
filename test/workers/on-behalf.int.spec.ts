import { expect } from 'chai';
import request from 'supertest';
import { verifyStream } from '../../src/audit/chain-verification.js';
import type { WorkerHost } from '../../src/workers/worker-host.js';
import { commandsOver, createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { dropTestPrefixes, eventsOf, startTestWorkers, testPrefix } from '../support/workers.js';

/** Causation an auditor can follow: what a worker does for an approved action names the action and the people who approved it. */
describe('workers act on behalf of approved actions', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let host: WorkerHost;
  let keys: Record<string, string>;

  before(async () => {
    harness = await startTestApp({ projections: true });
    keys = await createKeys(harness.knex, { ops: 'operator', scout: 'agent', ana: 'approver', bo: 'approver' });
    host = await startTestWorkers({ knex: harness.knex, store: harness.store, databaseUrl: harness.db.url, prefix: testPrefix() });
  });
  after(async () => {
    await host?.stop();
    await harness.close();
    await dropTestPrefixes();
  });

  const post = (path: string, body: object, who: string) => commandsOver(() => harness.app, keys)(path, body, who);
  const get = (path: string) => request(harness.app).get(path).set('authorization', `Bearer ${keys.ops}`).expect(200);

  it('an approved change_stage: the event it appends and the deal\'s stage history name the action and both approvers', async () => {
    // A large deal in negotiation: a medium-risk stage change becomes critical and needs two people.
    const dealId = (await post('/api/deals', { name: 'Globex', company: 'Globex plc', amount: { amount: '25000000', currency: 'EUR' } }, 'ops'))!;
    await post(`/api/deals/${dealId}/stage`, { to: 'negotiation' }, 'ops');
    const actionId = (await post('/api/actions', { dealId, kind: 'change_stage', title: 'Move to closing', payload: { to: 'closing', reason: 'Terms agreed' } }, 'scout'))!;
    await post(`/api/actions/${actionId}/approve`, { note: 'Terms checked' }, 'ana');
    await post(`/api/actions/${actionId}/approve`, {}, 'bo');

    await eventually(async () => (await eventsOf(harness.store, `action-${actionId}`)).at(-1)?.type === 'ActionExecuted', 10_000, 'the action executed');
    const approved = (await eventsOf(harness.store, `action-${actionId}`)).find((event) => event.type === 'ActionApproved')!;
    expect(approved.data).to.deep.include({ by: 'approvers', approverIds: ['ana', 'bo'] });

    const dealEvents = await eventsOf(harness.store, `deal-${dealId}`);
    const changed = dealEvents.at(-1)!;
    expect(changed).to.deep.include({ type: 'DealStageChanged' });
    expect(changed.data).to.deep.include({ from: 'negotiation', to: 'closing', reason: 'Terms agreed' });
    expect(changed.metadata).to.deep.include({
      actor: { kind: 'worker', id: host.workerId },
      onBehalfOf: { actionId, approvedBy: 'approvers', approverIds: ['ana', 'bo'] },
      // Caused by the approval that made it executable.
      causationId: approved.id,
    });
    // The metadata is covered by the hash chain, which still holds.
    expect(await verifyStream(harness.store, `deal-${dealId}`)).to.deep.include({ valid: true, chained: true });

    const { body: deal } = await get(`/api/deals/${dealId}?position=${encodeURIComponent(changed.position)}`);
    expect(deal.stage).to.equal('closing');
    const [created, negotiation, closing] = deal.stageHistory as { to: string; by: string; onBehalfOf: unknown }[];
    expect(created).to.deep.include({ to: 'sourcing', by: 'ops', onBehalfOf: null });
    expect(negotiation).to.deep.include({ to: 'negotiation', by: 'ops', onBehalfOf: null });
    expect(closing).to.deep.include({ to: 'closing', by: host.workerId, onBehalfOf: { actionId, approvedBy: 'approvers', approverIds: ['ana', 'bo'] } });

    const { body: timeline } = await get(`/api/events/recent?dealId=${dealId}&type=DealStageChanged&position=${encodeURIComponent(changed.position)}`);
    expect(timeline.items[0].summary).to.equal(`${host.workerId} (for action ${actionId}, approved by ana and bo) moved Globex from negotiation to closing`);
  });

  it('a note added by policy says that no person had to approve it', async () => {
    const dealId = (await post('/api/deals', { name: 'Initech', company: 'Initech', amount: { amount: '100000', currency: 'USD' } }, 'ops'))!;
    const actionId = (await post('/api/actions', { dealId, kind: 'add_note', title: 'Note the call', payload: { text: 'Called the CFO' } }, 'scout'))!;
    await eventually(async () => (await eventsOf(harness.store, `action-${actionId}`)).at(-1)?.type === 'ActionExecuted', 10_000, 'the action executed');
    const note = (await eventsOf(harness.store, `deal-${dealId}`)).find((event) => event.type === 'DealNoteAdded')!;
    expect(note.metadata.onBehalfOf).to.deep.equal({ actionId, approvedBy: 'policy', approverIds: [] });
  });
});
