import { expect } from 'chai';
import type { Express } from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import type { EventStore } from '../../../src/eventstore/contract.js';
import { createApiKey } from '../../support/principals.js';
import { payloadOf, type SampleKind } from '../../support/action-payloads.js';
import { collect } from '../../support/async.js';
import { startTestApp, type TestApp } from '../../support/app.js';

describe('action command routes (proposals and human approval)', () => {
  let harness: TestApp;
  let knex: Knex;
  let store: EventStore;
  let app: Express;
  const keys: Record<string, string> = {};

  before(async () => {
    harness = await startTestApp();
    ({ knex, store, app } = harness);
    const roles = [['ops', 'operator'], ['scout', 'agent'], ['ana', 'approver'], ['bo', 'approver'], ['root', 'admin'], ['audit', 'auditor'], ['pipe', 'integration']] as const;
    for (const [name, role] of roles) {
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
  async function propose(dealId: string, kind: SampleKind, by = 'scout'): Promise<string> {
    const res = await request(app).post('/api/actions').set(as(by)).send({ dealId, kind, title: `Do ${kind}`, payload: payloadOf(kind) }).expect(201);
    expect(res.headers.location).to.match(/^\/api\/actions\//);
    expect(res.body).to.have.keys('id', 'revision', 'position').and.include({ id: idOf(res.headers.location!) });
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
      .send({ dealId: '00000000-0000-4000-8000-000000000000', kind: 'send_email', title: 'x', payload: payloadOf('send_email') })
      .expect(404);
    expect(missing.body.code).to.equal('DEAL.NOT_FOUND');
    const dealId = await deal();
    await request(app).post(`/api/deals/${dealId}/stage`).set(as('ops')).send({ to: 'lost', reason: 'gone' }).expect(200);
    const closed = await request(app).post('/api/actions').set(as('scout')).send({ dealId, kind: 'send_email', title: 'x', payload: payloadOf('send_email') }).expect(409);
    expect(closed.body.code).to.equal('ACTION.DEAL_NOT_OPEN');
    const bad = await request(app).post('/api/actions').set(as('scout')).send({ dealId: 'nope', kind: 'Send Email', title: '' }).expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).to.have.members(['dealId', 'kind', 'title']);
  });

  describe('proposals checked against the kinds', () => {
    /** The proposal's stream as the store has it: nothing at all once it is refused. */
    const streamOf = async (res: request.Response) => collect(store.readStream(`action-${idOf(res.headers.location ?? 'none')}`)).catch(() => []);
    /** Every event in the log (either store), read through the store. */
    const eventCount = async () => (await collect(store.readAll({}))).length;

    it('refuses an unknown kind at once, naming `kind` and the kinds there are, and writes nothing', async () => {
      const dealId = await deal();
      const before = await eventCount();
      const res = await request(app).post('/api/actions').set(as('scout')).send({ dealId, kind: 'wire_transfer', title: 'Wire the deposit', payload: { iban: 'DE00' } }).expect(400);
      expect(res.type).to.equal('application/problem+json');
      expect(res.body.code).to.equal('ACTION.UNKNOWN_KIND');
      expect(res.body.errors.map((e: { field: string }) => e.field)).to.deep.equal(['kind']);
      expect(res.body.detail).to.include('wire_transfer').and.include('change_stage').and.include('share_data_room');
      expect(res.headers.location).to.equal(undefined);
      expect(await eventCount()).to.equal(before);
    });

    it('refuses a payload that does not fit its kind, naming each `payload.<field>`, and writes nothing', async () => {
      const dealId = await deal();
      const before = await eventCount();
      const res = await request(app)
        .post('/api/actions')
        .set(as('scout'))
        .set('idempotency-key', 'k-misfit')
        .send({ dealId, kind: 'change_stage', title: 'Move on', payload: { to: 'heaven', becuase: 'typo' } })
        .expect(400);
      expect(res.body.code).to.equal('ACTION.INVALID_PAYLOAD');
      expect(res.body.errors.map((e: { field: string }) => e.field)).to.have.members(['payload.to', 'payload.becuase']);
      expect(res.body.detail).to.include('payload.to');
      expect(await eventCount()).to.equal(before);
      expect(await knex('idempotency_keys').where({ key: 'k-misfit' }).first()).to.equal(undefined);
      // The same key with a payload that fits is a new request, and creates the action.
      const fits = await request(app).post('/api/actions').set(as('scout')).set('idempotency-key', 'k-misfit').send({ dealId, kind: 'change_stage', title: 'Move on', payload: { to: 'diligence' } }).expect(201);
      expect((await streamOf(fits)).map((event) => event.data.payload)[0]).to.deep.equal({ to: 'diligence' });
    });

    it('checks the payload of a manual kind too, and accepts one that fits', async () => {
      const dealId = await deal();
      const misfit = await request(app).post('/api/actions').set(as('scout')).send({ dealId, kind: 'send_email', title: 'Mail', payload: { to: 'cfo@acme.test' } }).expect(400);
      expect(misfit.body.errors.map((e: { field: string }) => e.field)).to.have.members(['payload.to', 'payload.subject', 'payload.body']);
      await propose(dealId, 'send_email');
    });
  });

  describe('manual outcomes: POST /api/actions/:id/outcome', () => {
    const outcome = (actionId: string, body: object, by = 'ops') => request(app).post(`/api/actions/${actionId}/outcome`).set(as(by)).send(body);

    it('records a manual action executed, as the person who carried it out', async () => {
      const actionId = await propose(await deal(), 'schedule_meeting'); // low risk: approved by policy, carried out by a person
      const res = await outcome(actionId, { outcome: 'executed', result: { calendarEventId: 'ev-1' } }).expect(200);
      expect(res.body.revision).to.equal('4');
      const events = await collect(store.readStream(`action-${actionId}`));
      expect(events.map((e) => e.type)).to.deep.equal(['ActionProposed', 'ActionRiskAssessed', 'ActionApproved', 'ActionExecutionStarted', 'ActionExecuted']);
      expect(events.at(-1)!.data).to.deep.equal({ actionId, attempt: 1, result: { calendarEventId: 'ev-1' } });
      expect(events.at(-1)!.metadata.actor).to.deep.include({ kind: 'user' });
      const again = await outcome(actionId, { outcome: 'failed', error: 'no' }).expect(409);
      expect(again.body.code).to.equal('ACTION.NOT_APPROVED');
    });

    it('records a failure for good, which an operator may have tried again', async () => {
      const actionId = await propose(await deal(), 'request_documents');
      await outcome(actionId, { outcome: 'failed', error: 'The CFO is away until May' }, 'root').expect(200);
      const failed = (await collect(store.readStream(`action-${actionId}`))).at(-1)!;
      expect(failed).to.deep.include({ type: 'ActionExecutionFailed', data: { actionId, attempt: 1, error: 'The CFO is away until May', final: true } });
      await request(app).post(`/api/actions/${actionId}/retry`).set(as('ops')).send({ reason: 'back now' }).expect(200);
      await outcome(actionId, { outcome: 'executed' }).expect(200);
      expect((await collect(store.readStream(`action-${actionId}`))).at(-1)!.data).to.deep.equal({ actionId, attempt: 2, result: {} });
    });

    it('is only for manual kinds, approved ones, by operators and admins, with an outcome that makes sense', async () => {
      const dealId = await deal();
      const internal = await propose(dealId, 'add_note');
      const notManual = await outcome(internal, { outcome: 'executed' }).expect(409);
      expect(notManual.body.code).to.equal('ACTION.NOT_MANUAL');
      const pending = await propose(dealId, 'send_email');
      expect((await outcome(pending, { outcome: 'executed' }).expect(409)).body.code).to.equal('ACTION.NOT_APPROVED');
      await outcome(pending, { outcome: 'executed' }, 'ana').expect(403);
      await outcome(pending, { outcome: 'executed' }, 'scout').expect(403);
      const vague = await outcome(pending, { outcome: 'done' }).expect(400);
      expect(vague.body.errors.map((e: { field: string }) => e.field)).to.deep.equal(['outcome']);
      const silent = await outcome(pending, { outcome: 'failed' }).expect(400);
      expect(silent.body.errors.map((e: { field: string }) => e.field)).to.deep.equal(['error']);
      await outcome('00000000-0000-4000-8000-000000000000', { outcome: 'executed' }).expect(404);
    });
  });

  describe('refusals: each error status as problem+json, writing nothing', () => {
    const unknownId = '00000000-0000-4000-8000-000000000000';
    const tooLong = 'x'.repeat(2001);
    /** An open deal with a proposal awaiting approval, one rejected, one approved then cancelled, one approved by policy; a lost deal. */
    const f = { dealId: '', pending: '', rejected: '', cancelled: '', approved: '', lostDealId: '' };
    let snapshot: string;

    /** Every event and stored idempotent response: a refusal must change neither. */
    async function written(): Promise<string> {
      const events = await knex('events').select('stream_id', 'revision', 'event_id', 'type').orderBy('position');
      const responses = await knex('idempotency_keys').count({ n: '*' });
      return JSON.stringify({ events, responses });
    }

    before(async () => {
      f.dealId = await deal();
      f.pending = await propose(f.dealId, 'send_email');
      f.rejected = await propose(f.dealId, 'send_email');
      await request(app).post(`/api/actions/${f.rejected}/reject`).set(as('ana')).set('idempotency-key', 'k-reject').send({ reason: 'no' }).expect(200);
      f.cancelled = await propose(f.dealId, 'send_email');
      await request(app).post(`/api/actions/${f.cancelled}/approve`).set(as('ana')).set('idempotency-key', 'k-approve').send({ note: 'ok' }).expect(200);
      await request(app).post(`/api/actions/${f.cancelled}/cancel`).set(as('scout')).set('idempotency-key', 'k-cancel').send({}).expect(200);
      const low = await request(app)
        .post('/api/actions')
        .set(as('scout'))
        .set('idempotency-key', 'k-propose')
        .send({ dealId: f.dealId, kind: 'schedule_meeting', title: 'Meet', payload: payloadOf('schedule_meeting') })
        .expect(201);
      f.approved = idOf(low.headers.location!);
      expect(await types(f.approved)).to.deep.equal(['ActionProposed', 'ActionRiskAssessed', 'ActionApproved']);
      f.lostDealId = await deal();
      await request(app).post(`/api/deals/${f.lostDealId}/stage`).set(as('ops')).send({ to: 'lost', reason: 'gone' }).expect(200);
      snapshot = await written();
    });

    interface Refusal {
      /** What is refused, for failure messages. */
      what: string;
      path: () => string;
      /** The key's owner; null sends no Authorization. */
      by: string | null;
      body: object | string;
      headers?: Record<string, string>;
      status: number;
      type?: string;
      code?: string;
      field?: string;
      /** Words the errors[] messages must contain (a key that is not allowed is named only there). */
    }

    const proposals = () => '/api/actions';
    const on = (verb: 'approve' | 'reject' | 'cancel', id: () => string) => () => `/api/actions/${id()}/${verb}`;
    const pending = () => f.pending;

    /** What every command route refuses in the same way, given a route's valid request by an allowed caller. */
    function common(path: () => string, by: string, body: object): Refusal[] {
      return [
        { what: 'no key', path, by: null, body, status: 401, type: '/problems/unauthenticated' },
        { what: 'an unknown key', path, by: null, headers: { authorization: 'Bearer ds_unknown' }, body, status: 401, type: '/problems/unauthenticated' },
        { what: 'an auditor', path, by: 'audit', body, status: 403, type: '/problems/forbidden' },
        { what: 'an integration key', path, by: 'pipe', body, status: 403, type: '/problems/forbidden' },
        { what: 'a stale If-Match', path, by, headers: { 'if-match': '"0"' }, body, status: 412, code: 'STREAM.REVISION_CHANGED' },
        { what: 'a text/plain body', path, by, headers: { 'content-type': 'text/plain' }, body: 'x=1', status: 415, type: '/problems/unsupported-media-type' },
      ];
    }
    const reused = { status: 422, type: '/problems/idempotency-key-reused' };

    async function refuse(refusal: Refusal): Promise<void> {
      const { what, path, by, body, headers = {}, status } = refusal;
      let req = request(app).post(path());
      if (by) req = req.set(as(by));
      for (const [name, value] of Object.entries(headers)) req = req.set(name, value);
      const res = await req.send(body);
      const label = `${status} for ${what}: ${res.status} ${JSON.stringify(res.body)}`;
      expect(res.status, label).to.equal(status);
      expect(res.type, label).to.equal('application/problem+json');
      expect(res.body.status, label).to.equal(status);
      if (status === 401) expect(res.headers['www-authenticate'], label).to.match(/^Bearer /);
      if (refusal.type) expect(res.body.type, label).to.equal(refusal.type);
      if (refusal.code) expect(res.body.code, label).to.equal(refusal.code);
      if (status === 400 && !refusal.code) expect(res.body.type, label).to.equal('/problems/invalid-request');
      const errors = (res.body.errors ?? []) as { field: string; message: string }[];
      if (refusal.field) expect(errors.map((e) => e.field), label).to.deep.equal([refusal.field]);
      expect(await written(), `${what} wrote something`).to.equal(snapshot);
    }

    async function refuseAll(refusals: Refusal[]): Promise<void> {
      for (const refusal of refusals) await refuse(refusal);
    }

    it('POST /api/actions: 400, 401, 403, 404, 409, 412, 415, 422', async () => {
      const body = () => ({ dealId: f.dealId, kind: 'send_email', title: 'Write', payload: payloadOf('send_email') });
      await refuseAll([
        ...common(proposals, 'scout', body()),
        { what: 'an unknown field', path: proposals, by: 'scout', body: { ...body(), extra: 1 }, status: 400, field: 'extra' },
        { what: 'a payload that is no object', path: proposals, by: 'scout', body: { ...body(), payload: 'x' }, status: 400, field: 'payload' },
        { what: 'a bad dealId alone', path: proposals, by: 'ops', body: { ...body(), dealId: `${f.dealId}0` }, status: 400, field: 'dealId' },
        { what: 'an unknown kind', path: proposals, by: 'scout', body: { ...body(), kind: 'wire_transfer' }, status: 400, code: 'ACTION.UNKNOWN_KIND', field: 'kind' },
        { what: 'a payload without a field', path: proposals, by: 'scout', body: { ...body(), payload: { to: ['cfo@acme.test'], subject: 'NDA' } }, status: 400, code: 'ACTION.INVALID_PAYLOAD', field: 'payload.body' },
        { what: 'no payload', path: proposals, by: 'scout', body: { dealId: f.dealId, kind: 'add_note', title: 'Note' }, status: 400, code: 'ACTION.INVALID_PAYLOAD', field: 'payload.text' },
        { what: 'a misfitting payload on an unknown deal', path: proposals, by: 'scout', body: { ...body(), dealId: unknownId, payload: {} }, status: 400, code: 'ACTION.INVALID_PAYLOAD' },
        { what: 'an unknown deal', path: proposals, by: 'scout', body: { ...body(), dealId: unknownId }, status: 404, code: 'DEAL.NOT_FOUND' },
        { what: 'a lost deal', path: proposals, by: 'scout', body: { ...body(), dealId: f.lostDealId }, status: 409, code: 'ACTION.DEAL_NOT_OPEN' },
        { what: 'a reused Idempotency-Key', path: proposals, by: 'scout', headers: { 'idempotency-key': 'k-propose' }, body: body(), ...reused },
      ]);
    });

    it('POST /api/actions/:id/approve: 400, 401, 403, 404, 409, 412, 415, 422', async () => {
      const path = on('approve', pending);
      await refuseAll([
        ...common(path, 'ana', {}),
        { what: 'an operator', path, by: 'ops', body: {}, status: 403, type: '/problems/forbidden' },
        { what: 'an unknown field', path, by: 'ana', body: { note: 'ok', extra: true }, status: 400, field: 'extra' },
        { what: 'a note too long', path, by: 'ana', body: { note: tooLong }, status: 400, field: 'note' },
        { what: 'an unknown action', path: on('approve', () => unknownId), by: 'ana', body: {}, status: 404, code: 'ACTION.NOT_FOUND' },
        { what: 'approval after rejection', path: on('approve', () => f.rejected), by: 'bo', body: {}, status: 409, code: 'ACTION.NOT_AWAITING_APPROVAL' },
        { what: 'approval after cancellation', path: on('approve', () => f.cancelled), by: 'bo', body: {}, status: 409, code: 'ACTION.NOT_AWAITING_APPROVAL' },
        { what: 'approval of a policy-approved action', path: on('approve', () => f.approved), by: 'ana', body: {}, status: 409, code: 'ACTION.NOT_AWAITING_APPROVAL' },
        // The key's first request is answered again only for the same request; the state since does not matter.
        { what: 'a reused Idempotency-Key', path: on('approve', () => f.cancelled), by: 'ana', headers: { 'idempotency-key': 'k-approve' }, body: { note: 'other' }, ...reused },
        { what: 'a key reused on another action', path, by: 'ana', headers: { 'idempotency-key': 'k-approve' }, body: { note: 'ok' }, ...reused },
      ]);
    });

    it('POST /api/actions/:id/reject: 400, 401, 403, 404, 409, 412, 415, 422', async () => {
      const path = on('reject', pending);
      const body = { reason: 'too early' };
      await refuseAll([
        ...common(path, 'ana', body),
        { what: 'an agent', path, by: 'scout', body, status: 403, type: '/problems/forbidden' },
        { what: 'an empty reason', path, by: 'ana', body: { reason: '' }, status: 400, field: 'reason' },
        { what: 'a blank reason', path, by: 'ana', body: { reason: '   ' }, status: 400, field: 'reason' },
        { what: 'an unknown field', path, by: 'ana', body: { ...body, extra: 1 }, status: 400, field: 'extra' },
        { what: 'an unknown action', path: on('reject', () => unknownId), by: 'ana', body, status: 404, code: 'ACTION.NOT_FOUND' },
        { what: 'a second rejection', path: on('reject', () => f.rejected), by: 'bo', body, status: 409, code: 'ACTION.NOT_AWAITING_APPROVAL' },
        { what: 'rejection of an approved action', path: on('reject', () => f.approved), by: 'ana', body, status: 409, code: 'ACTION.NOT_AWAITING_APPROVAL' },
        { what: 'a reused Idempotency-Key', path: on('reject', () => f.rejected), by: 'ana', headers: { 'idempotency-key': 'k-reject' }, body, ...reused },
      ]);
    });

    it('POST /api/actions/:id/cancel: 400, 401, 403, 404, 409, 412, 415, 422', async () => {
      const path = on('cancel', pending);
      await refuseAll([
        ...common(path, 'scout', {}),
        { what: 'an approver', path, by: 'ana', body: {}, status: 403, type: '/problems/forbidden' },
        { what: 'an operator who did not propose it', path: on('cancel', () => f.approved), by: 'ops', body: {}, status: 403, code: 'ACTION.CANCEL_FORBIDDEN' },
        { what: 'a reason too long', path, by: 'scout', body: { reason: tooLong }, status: 400, field: 'reason' },
        { what: 'an unknown field', path, by: 'scout', body: { byAdmin: true }, status: 400, field: 'byAdmin' },
        { what: 'an unknown action', path: on('cancel', () => 'nope'), by: 'root', body: {}, status: 404, code: 'ACTION.NOT_FOUND' },
        { what: 'cancelling a rejected action', path: on('cancel', () => f.rejected), by: 'scout', body: {}, status: 409, code: 'ACTION.CANNOT_CANCEL' },
        { what: 'cancelling twice', path: on('cancel', () => f.cancelled), by: 'root', body: {}, status: 409, code: 'ACTION.CANNOT_CANCEL' },
        { what: 'a reused Idempotency-Key', path: on('cancel', () => f.cancelled), by: 'scout', headers: { 'idempotency-key': 'k-cancel' }, body: { reason: 'x' }, ...reused },
      ]);
    });
  });
});
