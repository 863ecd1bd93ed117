import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import request from 'supertest';
import { createApiKey } from '../support/principals.js';
import { createRedis, jobLosingSettings } from '../../src/platform/redis.js';
import type { WorkerHost } from '../../src/workers/worker-host.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { eventsOf, startTestWorkers, testPrefix } from '../support/workers.js';

describe('workers: Redis stopped and started again', function () {
  this.timeout(patient(120_000));
  let harness: TestApp;
  let redis: PrivateRedis;
  let dir: string;
  let host: WorkerHost | undefined;
  let key: string;

  before(async () => {
    harness = await startTestApp();
    key = (await createApiKey(harness.knex, 'ops', 'operator')).key;
    dir = await mkdtemp(path.join(tmpdir(), 'dealstream-redis-'));
    redis = await startPrivateRedis({ dir });
  });
  after(async () => {
    await host?.stop();
    await redis.stop();
    await harness.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('takes every command while Redis is away, and runs every job once it is back', async () => {
    host = await startTestWorkers({ knex: harness.knex, store: harness.store, databaseUrl: harness.db.url, prefix: testPrefix() }, { redisUrl: redis.url });
    const post = (path: string, body: object) => request(harness.app).post(path).set({ authorization: `Bearer ${key}` }).send(body);
    const dealId = (await post('/api/deals', { name: 'Acme', company: 'Acme', amount: { amount: '1000.00', currency: 'USD' } })).headers.location!.split('/').pop()!;

    const actions: string[] = [];
    const statuses: number[] = [];
    const proposeFor = async (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        const res = await post('/api/actions', { dealId, kind: 'add_note', title: 'Note', payload: { text: `Note ${actions.length}` } });
        statuses.push(res.status);
        if (res.status === 201) actions.push(res.headers.location!.split('/').pop()!);
        await sleep(50);
      }
    };
    await proposeFor(1000);
    await redis.stop();
    const duringOutage = actions.length;
    await proposeFor(2000);
    expect(actions.length, 'commands went on while Redis was away').to.be.greaterThan(duringOutage);
    await redis.start();
    await proposeFor(1000);

    expect(new Set(statuses)).to.deep.equal(new Set([201]));
    await eventually(async () => {
      for (const actionId of actions) {
        if (!(await eventsOf(harness.store, `action-${actionId}`)).some((event) => event.type === 'ActionExecuted')) return false;
      }
      return true;
    }, 60_000, 'every action executed');
    const notes = (await eventsOf(harness.store, `deal-${dealId}`)).filter((event) => event.type === 'DealNoteAdded');
    expect(notes.map((note) => note.data.noteId).sort()).to.deep.equal([...actions].sort());
  });

  it('names the Redis settings that lose jobs: eviction, and keeping nothing on disk', async () => {
    const client = createRedis(redis.url, 'producer');
    try {
      expect(await jobLosingSettings(client)).to.deep.equal([]);
      await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await client.config('SET', 'appendonly', 'no');
      const warnings = await jobLosingSettings(client);
      expect(warnings).to.have.length(2);
      expect(warnings[0]).to.match(/^maxmemory-policy is allkeys-lru/);
      expect(warnings[1]).to.match(/keeps nothing on disk/);
    } finally {
      client.disconnect();
    }
  });
});
