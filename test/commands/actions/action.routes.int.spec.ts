import { expect } from 'chai';
import type { Express } from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import type { PostgresEventStore } from '../../../src/eventstore/postgres/postgres-event-store.js';
import { createApiKey } from '../../../src/http/api-keys.js';
import { collect } from '../../support/async.js';
import { startTestApp, type TestApp } from '../../support/app.js';

describe('action command routes (proposals and human approval)', () => {
  let harness: TestApp;
  let knex: Knex;
  let store: PostgresEventStore;
  let app: Express;
  const keys: Record<string, string> = {};

  before(async () => {
    harness = await startTestApp();
    ({ knex, store, app } = harness);
    for (const [name, role] of [['ops', 'operator'], ['scout', 'agent'], ['ana', 'approver'], ['bo', 'approver'], ['root', 'admin']] as const) {
      keys[name] = (await createApiKey(knex, name, role)).key;
    }
  });
  after(() => harness.close());

  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  const idOf = (location: string) => location.split('/').pop()!;
  async function deal(amount = '500000.00'): Promise<string> {
    const res = await request(app).post('/api/deals').set(as('ops')).send({ name: 'Acme', company: 'Acme Ltd', amount: { amount, currency: 'USD' } }).expect(201);
    return idOf(res.headers.location!);
  }
  async function propose(dealId: string, kind: string, by = 'scout'): Promise<string> {
    const res = await request(app).post('/api/actions').set(as(by)).send({ dealId, kind, title: `Do ${kind}`, payload: { to: 'cfo@acme.test' } }).expect(201);
    expect(res.headers.location).to.match(/^\/api\/actions\//);
    return idOf(res.headers.location!);
  }
  const types = async (actionId: string) => (await collect(store.readStream(`action-${actionId}`))).map((e) => e.type);

  it('approves a low-risk proposal by policy at once', async () => {
    const actionId = await propose(await deal(), 'schedule_meeting');
    expect(await types(actionId)).to.deep.equal(['ActionProposed', 'ActionRiskAssessed', 'ActionApproved']);
  });

  it('asks a human for a medium-risk proposal; an approver approves it, the agent may not', async () => {
    const actionId = await propose(await deal(), 'send_email');
    expect(await types(actionId)).to.deep.equal(['ActionProposed', 'ActionRiskAssessed', 'ActionApprovalRequested']);
    await request(app).post(`/api/actions/${actionId}/approve`).set(as('scout')).send({}).expect(403);
    const res = await request(app).post(`/api/actions/${actionId}/approve`).set(as('ana')).send({ note: 'fine' }).expect(200);
    expect(res.body.revision).to.equal('4');
    expect((await types(actionId)).slice(3)).to.deep.equal(['ActionApprovalGiven', 'ActionApproved']);
  });

  it('needs two different approvers for a critical proposal, and refuses self-approval and a second approval', async () => {
    const actionId = await propose(await deal('50000000.00'), 'share_data_room', 'ops');
    const twice = await request(app).post(`/api/actions/${actionId}/approve`).set(as('ana')).send({}).expect(200);
    expect(twice.body.revision).to.equal('3');
    const again = await request(app).post(`/api/actions/${actionId}/approve`).set(as('ana')).send({}).expect(409);
    expect(again.body.code).to.equal('ACTION.ALREADY_APPROVED');
    await request(app).post(`/api/actions/${actionId}/approve`).set(as('bo')).send({}).expect(200);
    expect((await types(actionId)).at(-1)).to.equal('ActionApproved');

    const own = await propose(await deal(), 'send_email', 'root');
    const self = await request(app).post(`/api/actions/${own}/approve`).set(as('root')).send({}).expect(409);
    expect(self.body.code).to.equal('ACTION.SELF_APPROVAL');
  });

  it('rejects only with a reason; cancels only by the proposer or an admin', async () => {
    const actionId = await propose(await deal(), 'send_email');
    const noReason = await request(app).post(`/api/actions/${actionId}/reject`).set(as('ana')).send({}).expect(400);
    expect(noReason.body.errors[0].field).to.equal('reason');
    const other = await request(app).post(`/api/actions/${actionId}/cancel`).set(as('ops')).send({}).expect(403);
    expect(other.body.code).to.equal('ACTION.CANCEL_FORBIDDEN');
    await request(app).post(`/api/actions/${actionId}/cancel`).set(as('scout')).send({ reason: 'not needed' }).expect(200);
    const late = await request(app).post(`/api/actions/${actionId}/reject`).set(as('ana')).send({ reason: 'no' }).expect(409);
    expect(late.body.code).to.equal('ACTION.NOT_AWAITING_APPROVAL');
  });

  it('refuses a proposal on a deal that does not exist or is closed, writing nothing', async () => {
    const missing = await request(app)
      .post('/api/actions')
      .set(as('scout'))
      .send({ dealId: '00000000-0000-4000-8000-000000000000', kind: 'send_email', title: 'x' })
      .expect(404);
    expect(missing.body.code).to.equal('DEAL.NOT_FOUND');
    const dealId = await deal();
    await request(app).post(`/api/deals/${dealId}/stage`).set(as('ops')).send({ to: 'lost', reason: 'gone' }).expect(200);
    const closed = await request(app).post('/api/actions').set(as('scout')).send({ dealId, kind: 'send_email', title: 'x' }).expect(409);
    expect(closed.body.code).to.equal('ACTION.DEAL_NOT_OPEN');
    const bad = await request(app).post('/api/actions').set(as('scout')).send({ dealId: 'nope', kind: 'Send Email', title: '' }).expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).to.have.members(['dealId', 'kind', 'title']);
  });
});
