import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDealstreamClient, type DealstreamClient } from '@dealstream/client';
import { expect } from 'chai';
import type { WorkerHost } from '../../src/workers/worker-host.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { dropTestPrefixes, startTestWorkers, testPrefix } from '../support/workers.js';

/**
 * The generated TypeScript client (clients/typescript) against a real app listening on a loopback
 * port, with its projections and workers running: what a client developer builds on, end to end.
 */
describe('the TypeScript client, end to end', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let workers: WorkerHost;
  let server: Server;
  let as: Record<'olga' | 'ana' | 'ben', DealstreamClient>;

  before(async () => {
    harness = await startTestApp({ projections: true });
    workers = await startTestWorkers({ knex: harness.knex, store: harness.store, databaseUrl: harness.db.url, prefix: testPrefix() });
    const keys = await createKeys(harness.knex, { olga: 'operator', ana: 'approver', ben: 'approver' });
    server = harness.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    as = {
      olga: createDealstreamClient({ baseUrl, credential: keys.olga! }),
      ana: createDealstreamClient({ baseUrl, credential: keys.ana! }),
      // A credential may be asked for before each request (a token that is renewed).
      ben: createDealstreamClient({ baseUrl, credential: async () => keys.ben! }),
    };
  });
  after(async () => {
    await workers?.stop();
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server.close(resolve));
    await harness?.close();
    await dropTestPrefixes();
  });

  it('creates a deal, proposes a critical stage change, has two people approve it, and reads it executed', async () => {
    // A large deal in a sensitive stage: changing its stage is critical and needs two approvals.
    const created = await as.olga.POST('/api/deals', { body: { name: 'Globex carve-out', company: 'Globex', amount: { amount: '25000000', currency: 'USD' } } });
    expect(created.response.status, JSON.stringify(created.error)).to.equal(201);
    const dealId = created.data!.id;
    expect(created.response.headers.get('location')).to.equal(`/api/deals/${dealId}`);
    const moved = await as.olga.POST('/api/deals/{id}/stage', { params: { path: { id: dealId } }, body: { to: 'negotiation' } });
    expect(moved.data).to.include({ revision: '1' });

    const proposed = await as.olga.POST('/api/actions', {
      params: { header: { 'Idempotency-Key': `close-${dealId}` } },
      body: { dealId, kind: 'change_stage', title: 'Move to closing', payload: { to: 'closing', reason: 'Terms agreed' } },
    });
    expect(proposed.response.status, JSON.stringify(proposed.error)).to.equal(201);
    const actionId = proposed.data!.id;
    const pending = await as.ana.GET('/api/actions/{id}', { params: { path: { id: actionId }, query: { position: proposed.data!.position } } });
    expect(pending.data).to.include({ risk: 'critical' });

    // A refusal is a typed problem with its code: nobody approves their own proposal, or twice.
    const first = await as.ana.POST('/api/actions/{id}/approve', { params: { path: { id: actionId } }, body: { note: 'Numbers check out' } });
    expect(first.response.status, JSON.stringify(first.error)).to.equal(200);
    const twice = await as.ana.POST('/api/actions/{id}/approve', { params: { path: { id: actionId } }, body: {} });
    expect(twice.response.status).to.equal(409);
    expect(twice.error?.code).to.be.a('string').and.match(/^ACTION\./);
    const second = await as.ben.POST('/api/actions/{id}/approve', { params: { path: { id: actionId } }, body: {} });
    expect(second.response.status, JSON.stringify(second.error)).to.equal(200);

    // Read with the last approval's position: the read model includes it; then the workers execute it.
    const approved = await as.olga.GET('/api/actions/{id}', { params: { path: { id: actionId }, query: { position: second.data!.position! } } });
    expect(approved.response.headers.get('x-stale')).to.equal('false');
    expect(JSON.stringify(approved.data)).to.include('ana').and.include('ben');
    await eventually(async () => {
      const { data } = await as.olga.GET('/api/actions/{id}', { params: { path: { id: actionId } } });
      return String(data?.status).toLowerCase() === 'executed';
    }, 15_000, 'the approved action executed');
    await eventually(async () => {
      const { data } = await as.olga.GET('/api/deals/{id}', { params: { path: { id: dealId } } });
      return data?.stage === 'closing';
    }, 15_000, "the deal's stage changed");
  });

  it('reads what every role may read, and answers a missing credential with a typed 401', async () => {
    const pipeline = await as.ana.GET('/api/pipeline');
    expect(pipeline.response.status).to.equal(200);
    const anonymous = createDealstreamClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credential: 'not-a-key' });
    const refused = await anonymous.GET('/api/deals');
    expect(refused.response.status).to.equal(401);
    expect(refused.error).to.include({ code: 'AUTH.UNAUTHENTICATED', status: 401 });
  });
});
