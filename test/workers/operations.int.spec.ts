import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/http/app.js';
import { silentLogger } from '../../src/platform/logger.js';
import { createRedis } from '../../src/platform/redis.js';
import { ReadPositions } from '../../src/queries/read-positions.js';
import { openQueues, type WorkerHost } from '../../src/workers/worker-host.js';
import { payloadOf } from '../support/action-payloads.js';
import { commandsOver, createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { spawnDealstream } from '../support/processes.js';
import { REDIS_URL, dropTestPrefixes, eventsOf, startTestWorkers, testPrefix, typesOf } from '../support/workers.js';

describe('workers: status, dead letters and replay, dashboard, readiness', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let host: WorkerHost;
  let app: Express;
  let readPositions: ReadPositions;
  let receiver: Server;
  let answer = 503;
  let prefix: string;
  let keys: Record<string, string>;
  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });
  const basic = (name: string) => ({ authorization: `Basic ${Buffer.from(`${name}:${keys[name]}`).toString('base64')}` });

  before(async () => {
    prefix = testPrefix(); // taken here, not when the file loads: another file's clean-up may run first
    harness = await startTestApp();
    keys = await createKeys(harness.knex, { root: 'admin', ops: 'operator', ana: 'approver' });
    receiver = createServer((req, res) => void req.resume().on('end', () => res.writeHead(answer).end(answer === 200 ? '{"sent":true}' : 'down')));
    receiver.listen(0);
    await once(receiver, 'listening');
    const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/send`;
    host = await startTestWorkers({ knex: harness.knex, store: harness.store, databaseUrl: harness.db.url, prefix }, { attempts: 2, settings: { agentRunIdleMs: 60_000, http: { executors: { send_email: url }, secret: '', timeoutMs: 2000 } } });
    readPositions = new ReadPositions(harness.knex, harness.db.url, silentLogger());
    app = createApp({ knex: harness.knex, eventStore: harness.store, logger: silentLogger(), readPositions, queues: host.queues });
  });
  after(async () => {
    await host.stop();
    receiver.close();
    await readPositions.close();
    await harness.close();
    await dropTestPrefixes();
  });

  const post = (path: string, body: object, who: string) => commandsOver(() => app, keys)(path, body, who);
  const actionEvents = async (actionId: string) => typesOf(await eventsOf(harness.store, `action-${actionId}`));

  it('shows dead letters in GET /api/workers and the CLI, and replays them: the action is executed after all', async () => {
    const dealId = (await post('/api/deals', { name: 'Acme', company: 'Acme', amount: { amount: '1000.00', currency: 'USD' } }, 'ops'))!;
    const actionId = (await post('/api/actions', { dealId, kind: 'send_email', title: 'Mail the CFO', payload: payloadOf('send_email') }, 'ops'))!;
    await post(`/api/actions/${actionId}/approve`, {}, 'ana');
    await eventually(async () => (await host.queues.actions.getFailedCount()) === 1, 10_000, 'the dead letter');
    expect((await actionEvents(actionId)).at(-1)).to.equal('ActionExecutionFailed');

    const status = await request(app).get('/api/workers').set(as('root'));
    expect(status.status).to.equal(200);
    expect(status.body.queues.find((queue: { name: string }) => queue.name === 'actions')).to.deep.include({ deadLettered: 1, active: 0, workers: 1 });
    expect(status.body.relay).to.deep.include({ name: 'jobs', running: true });
    expect(status.body.queues.map((queue: { name: string }) => queue.name), 'enum values in snake_case').to.have.members(['actions', 'approvals', 'agent_runs', 'webhooks']);
    expect((await request(app).get('/api/workers').set(as('ops'))).status).to.equal(403);
    expect((await request(app).get('/api/workers')).status).to.equal(401);

    const env = { ...harness.storeEnv, DATABASE_URL: harness.db.url, REDIS_URL, QUEUE_PREFIX: prefix };
    const cliStatus = spawnDealstream(['workers', 'status', '--json'], env);
    expect(await cliStatus.exit, cliStatus.stderr()).to.equal(0);
    expect(JSON.parse(cliStatus.stdout()).queues.find((queue: { name: string }) => queue.name === 'actions').deadLettered).to.equal(1);

    answer = 200; // the endpoint is back
    const replay = spawnDealstream(['workers', 'replay', '--queue', 'actions'], env);
    expect(await replay.exit, replay.stderr()).to.equal(0);
    expect(replay.stdout()).to.match(/^actions\texecute-action\texecute-action_/);
    await eventually(async () => (await actionEvents(actionId)).at(-1) === 'ActionExecuted', 10_000, 'the replayed action executed');
    expect((await actionEvents(actionId)).filter((type) => type === 'ActionExecuted')).to.have.length(1);
    expect(await host.queues.actions.getFailedCount()).to.equal(0);
  });

  it('shows the queue dashboard to admins who sign in with their key', async () => {
    const page = await request(app).get('/admin/queues').set(basic('root'));
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.match(/html/);
    const api = await request(app).get('/admin/queues/api/queues').set(basic('root'));
    expect(api.status).to.equal(200);
    expect(api.body.queues.map((queue: { name: string }) => queue.name)).to.have.members(['actions', 'approvals', 'agent-runs', 'webhooks']);
    const anonymous = await request(app).get('/admin/queues');
    expect(anonymous.status).to.equal(401);
    expect(anonymous.headers['www-authenticate']).to.equal('Basic realm="dealstream"');
    expect((await request(app).get('/admin/queues').set(basic('ops'))).status).to.equal(403);
  });

  it('reports Redis in readiness: ok, or degraded while it is away (commands do not need it)', async () => {
    const ready = await request(app).get('/health/ready');
    expect(ready.status).to.equal(200);
    expect(ready.body).to.deep.equal({ status: 'ok', checks: { postgres: 'ok', eventStore: 'ok', redis: 'ok' } });

    const unreachable = createRedis('redis://127.0.0.1:1', 'producer');
    const queues = openQueues(unreachable, prefix);
    const cut = createApp({ knex: harness.knex, eventStore: harness.store, logger: silentLogger(), readPositions, queues });
    try {
      const degraded = await request(cut).get('/health/ready');
      expect(degraded.status).to.equal(200);
      expect(degraded.body.status).to.equal('degraded');
      expect(degraded.body.checks.redis).to.match(/^unavailable/);
      const workers = await request(cut).get('/api/workers').set(as('root'));
      expect(workers.status).to.equal(503);
      expect(workers.body).to.deep.include({ title: 'The job queues cannot be read', code: 'QUEUES.UNAVAILABLE' });
      expect(workers.body.detail).to.match(/^Redis: /);
      expect(workers.headers['retry-after'], 'Redis may be back soon').to.equal('5');
    } finally {
      unreachable.disconnect();
    }
  });
});
