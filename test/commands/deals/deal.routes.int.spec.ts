import { expect } from 'chai';
import type { Express } from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import type { EventStore } from '../../../src/eventstore/contract.js';
import { createApiKey } from '../../support/principals.js';
import { requestHash } from '../../../src/http/idempotency.js';
import { collect } from '../../support/async.js';
import { startTestApp, type TestApp } from '../../support/app.js';

describe('deal command routes', () => {
  let harness: TestApp;
  let knex: Knex;
  let store: EventStore;
  let app: Express;
  let operator: string;
  let auditor: string;

  before(async () => {
    harness = await startTestApp();
    ({ knex, store, app } = harness);
    operator = (await createApiKey(knex, 'u-ana', 'operator')).key;
    auditor = (await createApiKey(knex, 'u-audit', 'auditor')).key;
  });
  after(() => harness.close());

  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  const newDeal = { name: 'Acme buyout', company: 'Acme Ltd', amount: { amount: '1250000.00', currency: 'USD' }, tags: ['saas'] };
  /** The answer's bytes as they came, and its headers. */
  async function sendRaw(method: 'post' | 'patch', path: string, body: object, key: string): Promise<{ status: number; headers: Record<string, string>; bytes: Buffer }> {
    const res = await request(app)[method](path).set(as(operator)).set('idempotency-key', key).send(body)
      .buffer(true)
      .parse((stream, done) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => done(null, Buffer.concat(chunks)));
      });
    return { status: res.status, headers: res.headers as Record<string, string>, bytes: res.body as Buffer };
  }
  const withoutDate = ({ date: _, ...headers }: Record<string, string>) => headers;
  async function create(): Promise<{ id: string; location: string }> {
    const res = await request(app).post('/api/deals').set(as(operator)).send(newDeal).expect(201);
    return { id: res.headers.location!.split('/').pop()!, location: res.headers.location! };
  }

  it('creates a deal: 201 with Location, ETag, its id, revision and position; the actor is the key owner', async () => {
    const res = await request(app).post('/api/deals').set(as(operator)).send(newDeal).expect(201);
    expect(res.headers.location).to.match(/^\/api\/deals\/[0-9a-f-]{36}$/);
    expect(res.headers.etag).to.equal('"0"');
    const id = res.headers.location!.split('/').pop()!;
    expect(res.text).to.match(new RegExp(`^\\{"id":"${id}","revision":"0","position":"[0-9a-f]{32}"\\}$`));
    const [event] = await collect(store.readStream(`deal-${id}`));
    expect(event!.type).to.equal('DealCreated');
    expect(event!.data).to.include({ ownerId: 'u-ana', stage: 'sourcing' });
    expect(event!.metadata.actor).to.deep.equal({ kind: 'user', id: 'u-ana' });
  });

  it('records amounts in their canonical form, and an update to the same amount in another form as no change', async () => {
    const { id } = await create(); // 1250000.00
    const [created] = await collect(store.readStream(`deal-${id}`));
    expect(created!.data).to.deep.include({ amount: { amount: '1250000', currency: 'USD' } });
    await request(app).patch(`/api/deals/${id}`).set(as(operator)).send({ amount: { amount: '1250000.0', currency: 'USD' } }).expect(200);
    await request(app).patch(`/api/deals/${id}`).set(as(operator)).send({ amount: { amount: '1300000.50', currency: 'USD' } }).expect(200);
    const events = await collect(store.readStream(`deal-${id}`));
    expect(events.map((event) => [event.type, event.data.amount])).to.deep.equal([
      ['DealCreated', { amount: '1250000', currency: 'USD' }],
      ['DealUpdated', { amount: '1300000.5', currency: 'USD' }],
    ]);
  });

  it('moves a deal, and answers a domain refusal with 409 and its code, writing nothing', async () => {
    const { id } = await create();
    await request(app).post(`/api/deals/${id}/stage`).set(as(operator)).send({ to: 'closing' }).expect(200, /"revision":"1"/);
    const res = await request(app).post(`/api/deals/${id}/stage`).set(as(operator)).send({ to: 'sourcing' }).expect(400);
    expect(res.body).to.include({ code: 'DEAL.REASON_REQUIRED', status: 400 });
    await request(app).post(`/api/deals/${id}/stage`).set(as(operator)).send({ to: 'won' }).expect(200);
    const refused = await request(app).post(`/api/deals/${id}/stage`).set(as(operator)).send({ to: 'lost', reason: 'x' }).expect(409);
    expect(refused.type).to.equal('application/problem+json');
    expect(refused.body).to.include({ code: 'DEAL.CLOSED', type: '/problems/deal-closed' });
    expect(await collect(store.readStream(`deal-${id}`))).to.have.length(3);
  });

  it('answers invalid bodies with 400 naming each field', async () => {
    const res = await request(app)
      .post('/api/deals')
      .set(as(operator))
      .send({ name: '', company: 'Acme', amount: { amount: '12.5.0', currency: 'usd' }, extra: 1 })
      .expect(400);
    expect(res.type).to.equal('application/problem+json');
    expect(res.body.errors.map((e: { field: string }) => e.field)).to.have.members(['name', 'amount.amount', 'amount.currency', 'extra']);
  });

  it('answers 404 for an unknown deal, 401 without a key, 403 for a reading role, 415 for a non-JSON body', async () => {
    await request(app).post('/api/deals/00000000-0000-4000-8000-000000000000/notes').set(as(operator)).send({ text: 'hi' }).expect(404);
    await request(app).post('/api/deals').send(newDeal).expect(401);
    await request(app).post('/api/deals').set(as(auditor)).send(newDeal).expect(403);
    await request(app).post('/api/deals').set(as(operator)).set('content-type', 'text/plain').send('name=x').expect(415);
  });

  it('answers an oversized body with 413 problem+json, writing nothing', async () => {
    const res = await request(app)
      .post('/api/deals')
      .set(as(operator))
      .send({ ...newDeal, name: 'x'.repeat(2 * 1024 * 1024) })
      .expect(413);
    expect(res.type).to.equal('application/problem+json');
    expect(res.body.type).to.equal('/problems/payload-too-large');
  });

  it('honours If-Match: 412 when stale, 200 when current', async () => {
    const { id } = await create();
    await request(app).post(`/api/deals/${id}/notes`).set(as(operator)).send({ text: 'first' }).expect(200);
    const stale = await request(app).post(`/api/deals/${id}/stage`).set(as(operator)).set('if-match', '"0"').send({ to: 'screening' }).expect(412);
    expect(stale.body).to.include({ code: 'STREAM.REVISION_CHANGED' });
    await request(app).post(`/api/deals/${id}/stage`).set(as(operator)).set('if-match', '"1"').send({ to: 'screening' }).expect(200);
    await request(app).post(`/api/deals/${id}/stage`).set(as(operator)).set('if-match', 'soon').send({ to: 'diligence' }).expect(400);
  });

  describe('Idempotency-Key', () => {
    it('answers a repeated creation with the first response and stores nothing new', async () => {
      const first = await request(app).post('/api/deals').set(as(operator)).set('idempotency-key', 'create-1').send(newDeal).expect(201);
      // The same JSON with its keys in another order is the same request.
      const reordered = Object.fromEntries(Object.entries(newDeal).reverse());
      const again = await request(app).post('/api/deals').set(as(operator)).set('idempotency-key', 'create-1').send(reordered).expect(201);
      expect(again.headers.location).to.equal(first.headers.location);
      expect(again.headers.etag).to.equal(first.headers.etag);
      expect(again.body).to.deep.equal(first.body);
      expect(await collect(store.readStream(`deal-${first.headers.location!.split('/').pop()}`))).to.have.length(1);
    });

    it('answers a repeat with the very bytes and headers of the first answer, creation or command', async () => {
      const first = await sendRaw('post', '/api/deals', newDeal, 'bytes-create');
      expect(first.status).to.equal(201);
      const id = first.headers.location!.split('/').pop()!;
      // A nested body, and one whose answer's keys jsonb would have put in another order.
      const update = { amount: { amount: '1300000', currency: 'EUR' }, tags: ['saas', 'eu'] };
      const changed = await sendRaw('patch', `/api/deals/${id}`, update, 'bytes-update');
      expect(changed.status).to.equal(200);
      for (const [original, method, path, body, key] of [[first, 'post', '/api/deals', newDeal, 'bytes-create'], [changed, 'patch', `/api/deals/${id}`, update, 'bytes-update']] as const) {
        const again = await sendRaw(method, path, body, key);
        expect(again.status).to.equal(original.status);
        expect(again.bytes.equals(original.bytes), `${again.bytes} vs ${original.bytes}`).to.equal(true);
        expect(withoutDate(again.headers)).to.deep.equal(withoutDate(original.headers));
      }
      expect(JSON.parse(first.bytes.toString())).to.have.keys('id', 'revision', 'position');
    });

    it('answers a repeat stored before bodies were kept as text', async () => {
      const { id } = await create();
      const body = { position: '0000000000000000000000000000000a', revision: '0', id };
      await knex('idempotency_keys').insert({
        principal_id: 'u-ana', key: 'stored-as-jsonb', request_hash: requestHash('POST', '/api/deals', newDeal),
        status: 201, body: JSON.stringify(body), headers: JSON.stringify({ ETag: '"0"', Location: `/api/deals/${id}` }),
      });
      const again = await request(app).post('/api/deals').set(as(operator)).set('idempotency-key', 'stored-as-jsonb').send(newDeal).expect(201);
      expect(again.headers).to.include({ etag: '"0"', location: `/api/deals/${id}` });
      expect(again.type).to.equal('application/json');
      expect(again.body).to.deep.equal(body);
    });

    it('answers the same key with another request with 422, storing nothing', async () => {
      await request(app).post('/api/deals').set(as(operator)).set('idempotency-key', 'create-2').send(newDeal).expect(201);
      const res = await request(app).post('/api/deals').set(as(operator)).set('idempotency-key', 'create-2').send({ ...newDeal, name: 'Other' }).expect(422);
      expect(res.body.type).to.equal('/problems/idempotency-key-reused');
    });

    it('lets concurrent twins land once', async () => {
      const { id } = await create();
      const twins = await Promise.all(
        [1, 2, 3].map(() => request(app).post(`/api/deals/${id}/notes`).set(as(operator)).set('idempotency-key', 'note-1').send({ text: 'once' })),
      );
      for (const twin of twins) expect(twin.status).to.equal(200);
      expect(new Set(twins.map((t) => t.body.position)).size).to.equal(1);
      const notes = (await collect(store.readStream(`deal-${id}`))).filter((e) => e.type === 'DealNoteAdded');
      expect(notes).to.have.length(1);
    });

    it('refuses a malformed key with 400', async () => {
      await request(app).post('/api/deals').set(as(operator)).set('idempotency-key', 'has space').send(newDeal).expect(400);
    });
  });

  it('loses no update under 50 concurrent stage changes on one deal', async () => {
    const { id } = await create();
    const stages = ['screening', 'diligence', 'negotiation', 'closing'] as const;
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => request(app).post(`/api/deals/${id}/stage`).set(as(operator)).send({ to: stages[i % 4], reason: 'rework' })),
    );
    const ok = responses.filter((r) => r.status === 200);
    for (const r of responses) expect(r.status, JSON.stringify(r.body)).to.be.oneOf([200, 409]);
    const events = await collect(store.readStream(`deal-${id}`));
    expect(events).to.have.length(1 + ok.length);
    // Each change starts from the stage the one before it ended in: nothing was decided on stale state.
    for (let i = 2; i < events.length; i++) expect(events[i]!.data.from).to.equal(events[i - 1]!.data.to);
  });

  it('takes every one of 50 concurrent notes on one deal: commands on a stream take turns in a process', async () => {
    const { id } = await create();
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => request(app).post(`/api/deals/${id}/notes`).set(as(operator)).send({ text: `note ${i}` })));
    expect(responses.map((r) => r.status)).to.deep.equal(Array<number>(50).fill(200));
    expect(new Set(responses.map((r) => r.body.revision)).size).to.equal(50);
    expect(await collect(store.readStream(`deal-${id}`))).to.have.length(51);
  });
});
