import { expect } from 'chai';
import type { Knex } from 'knex';
import { createKnex } from '../../src/platform/database.js';
import { eventually, patient } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createApiKey } from '../support/principals.js';
import { spawnDealstream, type DealstreamProcess } from '../support/processes.js';
import { startTestEventStore, type TestEventStore } from '../support/event-store.js';
import { dropTestPrefixes, testPrefix } from '../support/workers.js';

/** Two real API processes that trust checked keys for ten minutes: a change made through one holds in the other at once. */
describe('principals: revocation across API processes', function () {
  this.timeout(patient(120_000));
  let db: TestDatabase;
  let knex: Knex;
  let store: TestEventStore;
  const apis: { process: DealstreamProcess; url: string }[] = [];

  before(async () => {
    db = await createTestDatabase();
    knex = createKnex(db.url, 2);
    store = await startTestEventStore(db.url);
    const env = { DATABASE_URL: db.url, QUEUE_PREFIX: testPrefix(), AUTH_CACHE_MS: '600000', PORT: '0', ...store.env };
    for (let i = 0; i < 2; i++) {
      const run = spawnDealstream(['api'], env);
      await eventually(() => /api listening/.test(run.stderr()) || run.child.exitCode !== null, 60_000, 'the API to listen');
      const { port } = JSON.parse(run.stderr().split('\n').find((line) => line.includes('"api listening"'))!);
      apis.push({ process: run, url: `http://127.0.0.1:${port}` });
    }
  });
  after(async () => {
    for (const { process } of apis) {
      process.child.kill('SIGTERM');
      await process.exit;
    }
    await store.close();
    await knex.destroy();
    await db.drop();
    await dropTestPrefixes();
  });

  const call = (api: number, path: string, key: string, body?: object) =>
    fetch(`${apis[api]!.url}/api${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  it('refuses a revoked key and a disabled principal in the other process on the very next request', async () => {
    const { key: admin } = await createApiKey(knex, 'root', 'admin');
    const person = async (id: string) => {
      expect((await call(0, '/principals', admin, { id, kind: 'user', name: id, roles: ['operator'] })).status).to.equal(201);
      return ((await (await call(0, `/principals/${id}/keys`, admin, { name: 'main' })).json()) as { id: string; key: string });
    };
    const revoked = await person('rita');
    const disabled = await person('dan');
    for (const api of [0, 1]) for (const { key } of [revoked, disabled]) expect((await call(api, '/me', key)).status).to.equal(200);

    expect((await call(0, `/principals/rita/keys/${revoked.id}/revoke`, admin, {})).status).to.equal(200);
    expect((await call(1, '/me', revoked.key)).status).to.equal(401);
    expect((await call(0, '/principals/dan/disable', admin, { reason: 'left' })).status).to.equal(200);
    expect((await call(1, '/me', disabled.key)).status).to.equal(401);
    expect((await call(1, '/principals/dan/enable', admin, {})).status).to.equal(200);
    expect((await call(0, '/me', disabled.key)).status).to.equal(200);
  });
});
