import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { handleCommand, loadStream } from '../../src/commands/handle-command.js';
import { actionDecider } from '../../src/domain/actions/action.decider.js';
import { dealDecider } from '../../src/domain/deals/deal.decider.js';
import type { Actor } from '../../src/domain/shared/event.js';
import { createApiKey } from '../support/principals.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { payloadOf, type SampleKind } from '../support/action-payloads.js';
import { expectDeclaredShape } from './declared-shape.js';

const MINUTE = 60_000;
/** Decodes like a cursor, but its values are no times. */
const forged = Buffer.from('["x","y"]').toString('base64url');

describe('action queries and the approval queue', () => {
  let harness: TestApp;
  let app: Express;
  const keys: Record<string, string> = {};
  /** The last command's position: every query waits for the actions model to pass it. */
  let position: string;
  const base = Date.now();
  /** The fixture's actions by name, as ids. */
  const a = {} as Record<'medium' | 'high1' | 'high2' | 'critical' | 'expired' | 'low' | 'rejected' | 'viaHttp', string>;
  const deals = { small: '', large: '' };

  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  const idOf = (location: string) => location.split('/').pop()!;

  async function command(path: string, who: string, body: object): Promise<request.Response> {
    const res = await request(app).post(path).set(as(who)).send(body);
    expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
    position = res.body.position;
    return res;
  }

  /**
   * Proposes through the decider with a chosen clock, as the HTTP command would at that instant,
   * so that proposal times and deadlines (some already passed) are known.
   */
  async function proposeAt(dealId: string, kind: SampleKind, actor: Actor, minutesAgo: number): Promise<string> {
    const actionId = randomUUID();
    const deal = await loadStream(harness.store, `deal-${dealId}`, dealDecider);
    const result = await handleCommand(harness.store, `action-${actionId}`, actionDecider(), {
      type: 'ProposeAction',
      data: { actionId, dealId, kind, title: `Do ${kind}`, payload: payloadOf(kind), deal: deal.state },
      metadata: { actor, now: new Date(base - minutesAgo * MINUTE).toISOString(), correlationId: randomUUID(), causationId: randomUUID() },
    });
    position = result.position!;
    return actionId;
  }

  function get(path: string, query: Record<string, string | number> = {}, who = 'ops') {
    return request(app).get(path).query({ ...query, position }).set(as(who));
  }

  async function ok(path: string, query: Record<string, string | number> = {}, who = 'ops') {
    const res = await get(path, query, who);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.headers['x-stale']).to.equal('false');
    expectDeclaredShape(path, res.body);
    return res.body;
  }

  /** Every id, following nextCursor to the end. */
  async function allIds(path: string, query: Record<string, string | number>, who = 'ops'): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const body = await ok(path, { ...query, ...(cursor ? { cursor } : {}) }, who);
      expect(body.items.length).to.be.at.most(Number(query.limit ?? 50));
      ids.push(...body.items.map((item: { id: string }) => item.id));
      cursor = body.nextCursor;
    } while (cursor);
    return ids;
  }

  before(async () => {
    harness = await startTestApp({ projections: true });
    ({ app } = harness);
    const roles = [['ops', 'operator'], ['scout', 'agent'], ['ana', 'approver'], ['bo', 'approver'], ['root', 'admin']] as const;
    for (const [name, role] of roles) keys[name] = (await createApiKey(harness.knex, name, role)).key;

    const deal = async (amount: string) =>
      idOf((await command('/api/deals', 'ops', { name: 'Acme', company: 'Acme Ltd', amount: { amount, currency: 'USD' } })).headers.location!);
    deals.small = await deal('500000.00');
    deals.large = await deal('50000000.00'); // raises every risk one level

    const scout: Actor = { kind: 'agent', id: 'scout' };
    a.expired = await proposeAt(deals.small, 'share_data_room', scout, 25 * 60); // high: its 24 h deadline passed an hour ago
    a.medium = await proposeAt(deals.small, 'send_email', scout, 60);
    a.high1 = await proposeAt(deals.small, 'share_data_room', scout, 50);
    a.high2 = await proposeAt(deals.large, 'send_email', { kind: 'user', id: 'ops' }, 40);
    a.critical = await proposeAt(deals.large, 'share_data_room', { kind: 'user', id: 'root' }, 30);
    a.low = await proposeAt(deals.small, 'schedule_meeting', scout, 20);
    a.rejected = await proposeAt(deals.small, 'send_email', scout, 10);
    await command(`/api/actions/${a.critical}/approve`, 'ana', { note: 'numbers check out' });
    await command(`/api/actions/${a.rejected}/reject`, 'bo', { reason: 'wrong recipient' });
    a.viaHttp = idOf((await command('/api/actions', 'ops', { dealId: deals.small, kind: 'add_note', title: 'Note the call', payload: payloadOf('add_note') })).headers.location!);
  });
  after(() => harness.close());

  describe('GET /api/actions', () => {
    it('lists actions newest proposal first, with their summary', async () => {
      const body = await ok('/api/actions');
      expect(body.items.map((item: { id: string }) => item.id)).to.deep.equal([
        a.viaHttp, a.rejected, a.low, a.critical, a.high2, a.high1, a.medium, a.expired,
      ]);
      expect(body.nextCursor).to.equal(null);
      const critical = body.items[3];
      expect(critical).to.deep.equal({
        id: a.critical,
        dealId: deals.large,
        kind: 'share_data_room',
        title: 'Do share_data_room',
        status: 'awaiting_approval',
        risk: 'critical',
        approvals: { required: 2, given: [{ by: 'ana', at: critical.approvals.given[0].at, note: 'numbers check out' }] },
        approvalsRequired: 2,
        approvalsGiven: 1,
        proposedBy: { kind: 'user', id: 'root' },
        proposedAt: new Date(base - 30 * MINUTE).toISOString(),
        updatedAt: critical.updatedAt,
        expiresAt: new Date(base - 30 * MINUTE + 8 * 60 * MINUTE).toISOString(),
      });
      expect(Date.parse(critical.updatedAt)).to.be.at.least(base);
    });

    it('filters by deal, status (one or several), risk, kind and proposer', async () => {
      const ids = async (query: Record<string, string>) => (await ok('/api/actions', query)).items.map((item: { id: string }) => item.id);
      expect(await ids({ dealId: deals.large })).to.deep.equal([a.critical, a.high2]);
      expect(await ids({ status: 'approved' })).to.deep.equal([a.viaHttp, a.low]);
      expect(await ids({ status: 'rejected,approved' })).to.deep.equal([a.viaHttp, a.rejected, a.low]);
      expect(await ids({ risk: 'high' })).to.deep.equal([a.high2, a.high1, a.expired]);
      expect(await ids({ kind: 'send_email' })).to.deep.equal([a.rejected, a.high2, a.medium]);
      expect(await ids({ proposedBy: 'root' })).to.deep.equal([a.critical]);
      expect(await ids({ dealId: deals.small, status: 'awaiting_approval', risk: 'high' })).to.deep.equal([a.high1, a.expired]);
    });

    it('still takes the PascalCase statuses of the previous version (deprecated), alone or beside the new ones', async () => {
      const ids = async (query: Record<string, string>) => (await ok('/api/actions', query)).items.map((item: { id: string }) => item.id);
      const awaiting = [a.critical, a.high2, a.high1, a.medium, a.expired];
      expect(await ids({ status: 'awaiting_approval' })).to.deep.equal(awaiting);
      expect(await ids({ status: 'AwaitingApproval' })).to.deep.equal(awaiting);
      expect(await ids({ status: 'Approved' })).to.deep.equal([a.viaHttp, a.low]);
      expect(await ids({ status: 'Rejected,approved' })).to.deep.equal([a.viaHttp, a.rejected, a.low]);
      const items = (await ok('/api/actions', { status: 'AwaitingApproval' })).items as { status: string }[];
      expect(new Set(items.map((item) => item.status)), 'answers use the new names').to.deep.equal(new Set(['awaiting_approval']));
    });

    it('sorts by last change on request', async () => {
      expect(await allIds('/api/actions', { sort: 'updated', limit: 10 })).to.deep.equal([
        a.viaHttp, a.rejected, a.critical, a.low, a.high2, a.high1, a.medium, a.expired,
      ]);
    });

    it('pages with a cursor to the end, without duplicates or gaps, in either sort', async () => {
      for (const sort of ['proposed', 'updated']) {
        const whole = await allIds('/api/actions', { sort, limit: 50 });
        expect(await allIds('/api/actions', { sort, limit: 3 })).to.deep.equal(whole);
        expect(await allIds('/api/actions', { sort, limit: 1 })).to.deep.equal(whole);
      }
    });

    it('answers a bad query with 400 naming the field, and no key with 401', async () => {
      for (const [field, value] of [['status', 'approved,done'], ['status', 'APPROVED'], ['risk', 'extreme'], ['sort', 'risk'], ['limit', '0'], ['cursor', 'nope'], ['cursor', forged], ['dealId', 'deal-1']]) {
        const res = await get('/api/actions', { [field!]: value! }).expect(400);
        expect(res.type).to.equal('application/problem+json');
        expect(res.body.errors.map((error: { field: string }) => error.field)).to.deep.equal([field]);
      }
      await request(app).get('/api/actions').expect(401);
    });
  });

  describe('GET /api/actions/:id', () => {
    it('answers the whole action: payload, risk reasons, approvals, execution', async () => {
      const body = await ok(`/api/actions/${a.critical}`);
      expect(body).to.deep.include({
        id: a.critical,
        status: 'awaiting_approval',
        payload: payloadOf('share_data_room'),
        riskReasons: ['kind share_data_room is high risk', 'deal amount 50000000 USD is at least 10000000'],
        approvedBy: null,
        rejection: null,
        cancellation: null,
        attempts: 0,
        result: null,
        error: null,
        revision: '3',
      });
      expect(body.approvals.required).to.equal(2);
      expect(body.approvals.given).to.have.length(1);
      expect(body.approvals.given[0]).to.include({ by: 'ana', note: 'numbers check out' });
      expect(Date.parse(body.approvals.given[0].at)).to.be.at.least(base);
    });

    it('says who rejected an action and why, and how one was approved', async () => {
      expect((await ok(`/api/actions/${a.rejected}`)).rejection).to.deep.equal({ by: 'bo', reason: 'wrong recipient' });
      const viaHttp = await ok(`/api/actions/${a.viaHttp}`);
      expect(viaHttp).to.include({ status: 'approved', approvedBy: 'policy', expiresAt: null });
      expect(viaHttp.approvals).to.deep.equal({ required: 0, given: [] });
    });

    it('answers 404 ACTION.NOT_FOUND for an unknown action', async () => {
      const res = await get(`/api/actions/${randomUUID()}`).expect(404);
      expect(res.type).to.equal('application/problem+json');
      expect(res.body.code).to.equal('ACTION.NOT_FOUND');
    });
  });

  describe('GET /api/hitl/approval-queue', () => {
    const queue = '/api/hitl/approval-queue';

    it('lists what awaits approval and has not expired, highest risk first, then oldest first', async () => {
      const body = await ok(queue);
      expect(body.items.map((item: { id: string }) => item.id)).to.deep.equal([a.critical, a.high1, a.high2, a.medium]);
      expect(body.items[0]).to.deep.include({
        risk: 'critical',
        status: 'awaiting_approval',
        riskReasons: ['kind share_data_room is high risk', 'deal amount 50000000 USD is at least 10000000'],
        expiresAt: new Date(base - 30 * MINUTE + 8 * 60 * MINUTE).toISOString(),
      });
      // What the approver decides on comes with the item: no read of each action besides.
      expect(body.items[0].payload).to.deep.equal((await ok(`/api/actions/${a.critical}`)).payload);
    });

    it('names the deal (its amount exact), the proposer and the revision to send as If-Match', async () => {
      const [critical, high1] = await Promise.all([a.critical, a.high1].map(async (id) => (await ok(queue)).items.find((item: { id: string }) => item.id === id)));
      const large = await ok(`/api/deals/${deals.large}`);
      expect(critical.deal).to.deep.equal({ name: 'Acme', company: 'Acme Ltd', stage: large.stage, amount: large.amount });
      expect(critical.deal.amount.amount).to.match(/^50000000(\.0+)?$/);
      expect(critical).to.deep.include({ proposerName: 'root', revision: (await ok(`/api/actions/${a.critical}`)).revision });
      expect(high1.proposerName, "an agent principal bound to no agent: the principal's name").to.equal('scout');
    });

    it("names an agent's proposal by the agent's name", async () => {
      const agentId = idOf((await command('/api/agents', 'root', { name: 'Deal scout', model: 'm' })).headers.location!);
      keys['scout-bound'] = (await createApiKey(harness.knex, 'scout-bound', 'agent', { agentId })).key;
      const proposed = await request(app).post('/api/actions').set(as('scout-bound')).send({ dealId: deals.small, kind: 'send_email', title: 'Mail', payload: payloadOf('send_email') });
      expect(proposed.status, JSON.stringify(proposed.body)).to.equal(201);
      position = proposed.body.position;
      const item = (await ok(queue)).items.find((entry: { id: string }) => entry.id === proposed.body.id);
      expect(item.proposerName).to.equal('Deal scout');
      await command(`/api/actions/${proposed.body.id}/reject`, 'bo', { reason: 'not now' });
    });

    it('leaves out an action whose deadline passed, though nobody has expired it yet', async () => {
      expect((await ok(`/api/actions/${a.expired}`)).status).to.equal('awaiting_approval');
      expect((await ok(queue, { risk: 'high' })).items.map((item: { id: string }) => item.id)).to.deep.equal([a.high1, a.high2]);
    });

    it('filters by deal and risk', async () => {
      expect((await ok(queue, { dealId: deals.small })).items.map((item: { id: string }) => item.id)).to.deep.equal([a.high1, a.medium]);
      expect((await ok(queue, { risk: 'critical,medium' })).items.map((item: { id: string }) => item.id)).to.deep.equal([a.critical, a.medium]);
    });

    it('pages with a cursor across risk levels without duplicates or gaps', async () => {
      expect(await allIds(queue, { limit: 1 })).to.deep.equal([a.critical, a.high1, a.high2, a.medium]);
      expect(await allIds(queue, { limit: 3 })).to.deep.equal([a.critical, a.high1, a.high2, a.medium]);
    });

    it('says whether the caller may approve: not the proposer, not twice, not without an approver role', async () => {
      const canApprove = async (who: string) => (await ok(queue, { risk: 'critical' }, who)).items[0].canApprove;
      expect(await canApprove('root')).to.equal(false); // an admin, but the proposer
      expect(await canApprove('ana')).to.equal(false); // approved it already
      expect(await canApprove('bo')).to.equal(true);
      expect(await canApprove('ops')).to.equal(false); // an operator
      const medium = async (who: string) => (await ok(queue, { risk: 'medium' }, who)).items[0].canApprove;
      expect(await medium('root')).to.equal(true);
      expect(await medium('ana')).to.equal(true);
      expect(await medium('scout')).to.equal(false); // the proposer, and an agent
    });

    it('answers a bad query with 400 naming the field, and no key with 401', async () => {
      for (const [field, value] of [['risk', 'extreme'], ['limit', '500'], ['cursor', forged], ['dealId', 'x']]) {
        const res = await get(queue, { [field!]: value! }).expect(400);
        expect(res.body.errors.map((error: { field: string }) => error.field)).to.deep.equal([field]);
      }
      await request(app).get(queue).expect(401);
    });
  });

  describe('one approval shape everywhere an action appears', () => {
    const queue = '/api/hitl/approval-queue';
    const approvalsIn = async () => {
      const detail = await ok(`/api/actions/${a.critical}`);
      const list = (await ok('/api/actions', { dealId: deals.large })).items.find((item: { id: string }) => item.id === a.critical);
      const queued = (await ok(queue, { dealId: deals.large })).items.find((item: { id: string }) => item.id === a.critical);
      const deal = (await ok(`/api/deals/${deals.large}`)).openActions.find((action: { id: string }) => action.id === a.critical);
      return { detail, list, queued, deal };
    };

    it('names who approved, when and with what note, after one of two approvals: alike in the list, the queue, the detail and the deal', async () => {
      const { detail, list, queued, deal } = await approvalsIn();
      const [given] = detail.approvals.given;
      expect(Date.parse(given.at)).to.be.at.least(base);
      const expected = { required: 2, given: [{ by: 'ana', at: given.at, note: 'numbers check out' }] };
      for (const [where, answer] of Object.entries({ detail, list, queued, deal })) expect(answer.approvals, where).to.deep.equal(expected);
    });

    it('keeps the approval fields of the previous version for one more, marked deprecated in the description', async () => {
      const { detail, list, queued } = await approvalsIn();
      expect(list).to.deep.include({ approvalsRequired: 2, approvalsGiven: 1 });
      expect(queued).to.deep.include({ approvalsRequired: 2, approvalsGiven: 1, approvers: ['ana'] });
      expect(detail).to.deep.include({ approvalsRequired: 2, approvalsGiven: 1, approvedBy: null });

      const { components } = (await request(app).get('/openapi.json').expect(200)).body;
      const deprecated = (schema: string, field: string) => components.schemas[schema].properties[field].deprecated;
      for (const field of ['approvalsRequired', 'approvalsGiven']) expect(deprecated('ActionSummary', field), field).to.equal(true);
      expect(deprecated('ApprovalQueueItem', 'approvers')).to.equal(true);
      expect(deprecated('Action', 'approvedBy')).to.equal(true);
      expect(deprecated('ActionSummary', 'approvals')).to.equal(undefined);
    });

    it('lists both approvals once the second is given, and the action leaves the queue', async () => {
      await command(`/api/actions/${a.critical}/approve`, 'bo', {});
      const { detail, list, queued } = await approvalsIn();
      expect(queued).to.equal(undefined);
      expect(detail).to.deep.include({ status: 'approved', approvedBy: 'approvers', approvalsGiven: 2 });
      expect(detail.approvals.given.map((approval: { by: string; note: string | null }) => [approval.by, approval.note])).to.deep.equal([
        ['ana', 'numbers check out'],
        ['bo', null],
      ]);
      expect(list.approvals).to.deep.equal(detail.approvals);
    });
  });
});
