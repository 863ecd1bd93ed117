import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { reencryptSecrets } from '../../src/integrations/webhooks/webhook-subscriptions.js';
import { OutboundGuard } from '../../src/platform/outbound-guard.js';
import { SecretBox } from '../../src/platform/secret-box.js';
import type { WorkerHost } from '../../src/workers/worker-host.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { loadConfig } from '../../src/platform/config.js';
import { testKeyring } from '../support/secrets.js';
import { Receiver } from '../support/webhook-receiver.js';
import { dropTestPrefixes, startTestWorkers, testPrefix } from '../support/workers.js';

/** Issue 14: webhooks reach no private network, keep no plaintext secret, and outlast a receiver's restart. */
describe('webhooks: outbound safety, sealed secrets and the default retry schedule', function () {
  this.timeout(patient(120_000));
  let harness: TestApp;
  let host: WorkerHost;
  let keys: Record<string, string>;
  const receivers: Receiver[] = [];
  const stream = () => `deal-${randomUUID()}`;
  /** The workers' keyring after a rotation: a new key first, the one the API seals with after it. */
  const rotated = new SecretBox([{ id: 'rotated', key: Buffer.alloc(32, 7) }, ...testKeyring]);

  before(async () => {
    // The API as deployed: nothing private may be reached. The workers' resolver answers for names
    // no DNS here knows: `receiver.test` is the test's receiver on 127.0.0.1 (allowlisted, as an
    // on-premises install allowlists its own), `trap.test` another loopback address, as a name an
    // attacker controls could answer. Delivery retries on the default schedule.
    harness = await startTestApp({ http: { outbound: new OutboundGuard() } });
    keys = await createKeys(harness.knex, { hook: 'integration', root: 'admin' });
    const names: Record<string, string> = { 'receiver.test': '127.0.0.1', 'trap.test': '127.0.0.2' };
    const outbound = new OutboundGuard({ allowPrivate: ['127.0.0.1/32'], resolve: async (name) => (names[name] ? [{ address: names[name], family: 4 }] : []) });
    const webhookRetrySchedule = loadConfig({}).WEBHOOK_RETRY_SCHEDULE;
    host = await startTestWorkers({ knex: harness.knex, store: harness.store, databaseUrl: harness.db.url, prefix: testPrefix() }, { outbound, box: rotated, settings: { webhookRetrySchedule } });
  });
  after(async () => {
    await host?.stop();
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await harness.close();
    await dropTestPrefixes();
  });

  const as = (who: string) => ({ authorization: `Bearer ${keys[who]}` });
  const create = (body: object) => request(harness.app).post('/api/integrations/webhooks').set(as('hook')).send(body);
  const receiver = async () => {
    const opened = await new Receiver().open();
    receivers.push(opened);
    return opened;
  };

  describe('no reach into private networks', () => {
    const forbidden = [
      'http://127.0.0.1:5432/', 'http://localhost:6379/', 'http://[::1]/', 'http://2130706433/', 'http://127.1/', 'http://[::ffff:127.0.0.1]/', 'http://0x7f000001/',
      'http://0.0.0.0/', 'http://10.0.0.1/', 'http://172.16.0.1/', 'http://192.168.1.1/', 'http://100.64.0.1/', 'http://169.254.169.254/latest/meta-data/',
      'http://metadata.google.internal/computeMetadata/v1/', 'http://[fd00::1]/', 'http://[fe80::1]/', 'http://224.0.0.1/', 'http://user:pass@93.184.216.34/',
    ];
    for (const url of forbidden) {
      it(`refuses a subscription to ${url}: 400 naming url, nothing stored`, async () => {
        const res = await create({ url });
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body.errors.map((error: { field: string }) => error.field)).to.deep.equal(['url']);
        expect(await harness.knex('webhook_subscriptions').where({ url }).first()).to.equal(undefined);
      });
    }

    it('never connects to a name that resolves to loopback at delivery time, and says so without naming the address', async () => {
      const trap = await new Receiver().open('0.0.0.0'); // would answer on 127.0.0.2
      receivers.push(trap);
      const url = `http://trap.test:${trap.port}/hook`; // does not resolve for the API: taken at creation
      const created = await create({ url, filter: { streamIds: [stream()] } });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      await harness.store.append(created.body.filter.streamIds[0], [{ type: 'DealNoteAdded', data: { n: 1 } }], { expectedRevision: 'any' });
      const deliveries = async () => (await request(harness.app).get(`/api/integrations/webhooks/${created.body.id}/deliveries`).set(as('hook')).expect(200)).body.items as { error: string }[];
      await eventually(async () => (await deliveries()).length >= 1, 20_000, 'a refused attempt');
      const [attempt] = await deliveries();
      expect(attempt!.error).to.equal('refused by the outbound guard: the host name resolves to an address that may not be reached');
      expect(attempt!.error).to.not.include('127.0.0.1');
      expect(trap.requests).to.equal(0);
      await request(harness.app).delete(`/api/integrations/webhooks/${created.body.id}`).set(as('hook')).expect(204);
    });
  });

  const append = (streamId: string, count: number) =>
    harness.store.append(streamId, Array.from({ length: count }, (_, n) => ({ type: 'DealNoteAdded', data: { n } })), { expectedRevision: 'any' });

  describe('secrets at rest', () => {
    it('keeps no plaintext secret; a rotation re-encrypts every one under the new key and deliveries still verify', async () => {
      const to = await receiver();
      const deal = stream();
      const created = await create({ url: `http://receiver.test:${to.port}/hook`, filter: { streamIds: [deal] } });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      to.secret = created.body.secret;
      const secretBytes = to.secret.slice('whsec_'.length);
      const row = await harness.knex('webhook_subscriptions').where({ id: created.body.id }).first();
      expect(row.secret).to.equal(null);
      expect(row.sealed_secret).to.match(/^v1\.[\w-]+\./);
      expect(JSON.stringify(await harness.knex('webhook_subscriptions').select('*'))).to.not.include(secretBytes);

      expect(await reencryptSecrets(harness.knex, rotated)).to.be.at.least(1);
      const after = await harness.knex('webhook_subscriptions').where({ id: created.body.id }).first();
      expect(after.sealed_secret).to.match(/^v1\.rotated\./);
      expect(await reencryptSecrets(harness.knex, rotated), 'nothing left to re-encrypt').to.equal(0);

      await append(deal, 2);
      await eventually(() => to.events.length === 2, 20_000, 'both events, verified with the secret shown at creation');
      expect(to.requests).to.equal(2);
    });
  });

  describe('a receiver restarted', () => {
    it('down for 30 s, with the default retry schedule, still receives every event, once, in order', async () => {
      const to = await receiver();
      const deal = stream();
      const created = await create({ url: `http://receiver.test:${to.port}/hook`, filter: { streamIds: [deal] } });
      to.secret = created.body.secret;
      await to.close();
      const downSince = Date.now();
      await append(deal, 5);
      // The routine restart: it is down 30 s whatever the retries do meanwhile.
      await eventually(() => Date.now() - downSince >= 30_000, 40_000, 'thirty seconds of downtime');
      await to.open();
      await eventually(() => to.events.length >= 5, 60_000, 'every event after the restart');
      expect(to.events.map((event) => Number((event.data as { n: number }).n))).to.deep.equal([0, 1, 2, 3, 4]);
      const state = (await request(harness.app).get(`/api/integrations/webhooks/${created.body.id}`).set(as('hook')).expect(200)).body;
      expect(state.state).to.equal('active');
    });
  });
});
