import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { payloadOf } from '../support/action-payloads.js';
import { commandsOver, createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { spawnDealstream, type DealstreamProcess } from '../support/processes.js';
import { REDIS_URL, dropTestPrefixes, eventsOf, testPrefix } from '../support/workers.js';

describe('worker processes: crashes', function () {
  this.timeout(patient(240_000));
  let harness: TestApp;
  let receiver: Server;
  let prefix: string;
  const children: DealstreamProcess[] = [];
  let keys: Record<string, string>;
  /** When each call the receiver is still answering came in, and every call by action. */
  const inFlight = new Set<number>();
  const calls = new Map<string, number>();

  before(async () => {
    harness = await startTestApp();
    keys = await createKeys(harness.knex, { ops: 'operator', ana: 'approver' });
    // An endpoint that takes its time, so that kills land while jobs are in hand.
    receiver = createServer((req, res) => {
      const call = performance.now();
      inFlight.add(call);
      res.on('close', () => inFlight.delete(call)); // answered, or the worker died
      const action = String(req.headers['idempotency-key']);
      calls.set(action, (calls.get(action) ?? 0) + 1);
      req.resume();
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sent: true })), 100 + Math.random() * 300);
    });
    receiver.listen(0);
    await once(receiver, 'listening');
    prefix = testPrefix();
  });
  after(async () => {
    for (const child of children) child.child.kill('SIGKILL');
    await Promise.all(children.map((child) => child.exit)); // none may add jobs after the keys are gone
    receiver.close();
    await harness.close();
    await dropTestPrefixes();
  });

  const worker = () => {
    const child = spawnDealstream(['worker'], {
      ...harness.storeEnv,
      DATABASE_URL: harness.db.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      WORKER_LOCK_MS: '1000',
      WORKER_CONCURRENCY: '4',
      JOB_ATTEMPTS: '20',
      JOB_BACKOFF_MS: '50',
      ACTION_HTTP_EXECUTORS: JSON.stringify({ send_email: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/send` }),
    });
    children.push(child);
    return child;
  };
  const post = (path: string, body: object, who: string) => commandsOver(() => harness.app, keys)(path, body, who);

  it('after kill -9 mid-job 10 times, every action ends executed once in effect; nothing is lost', async () => {
    const dealId = (await post('/api/deals', { name: 'Acme', company: 'Acme', amount: { amount: '1000.00', currency: 'USD' } }, 'ops'))!;
    const actions: { id: string; kind: 'add_note' | 'send_email' }[] = [];
    // The feed proposes alongside each worker, so many actions per worker started. Paced by the clock
    // alone, it left more work the slower workers started: over 1,000 actions at a load of 12, where
    // each took 10 to 30 s to start, and a minute was not enough to execute them.
    const PER_WORKER = 16;
    let allowed = 0;
    let more = () => {};
    let feeding = true;
    const feed = (async () => {
      for (let i = 0; feeding; i++) {
        while (feeding && i >= allowed) await new Promise<void>((resolve) => (more = resolve));
        if (!feeding) break;
        const kind = i % 2 === 0 ? 'send_email' : 'add_note';
        const id = (await post('/api/actions', { dealId, kind, title: `Action ${i}`, payload: kind === 'add_note' ? { text: `Note ${i}` } : payloadOf('send_email') }, 'ops'))!;
        if (kind === 'send_email') await post(`/api/actions/${id}/approve`, {}, 'ana'); // medium risk
        actions.push({ id, kind });
        await sleep(60);
      }
    })();

    const next = () => {
      allowed += PER_WORKER;
      more();
      return worker();
    };
    let current = next();
    for (let kill = 0; kill < 10; kill++) {
      const spawned = performance.now();
      // This worker has a call out: it is in the middle of a job.
      await eventually(() => [...inFlight].some((call) => call > spawned) || current.child.exitCode !== null, 30_000, 'a job in hand');
      expect(current.child.exitCode, current.stderr()).to.equal(null);
      await sleep(Math.random() * 150);
      current.child.kill('SIGKILL');
      await current.exit;
      current = next();
    }
    feeding = false;
    more();
    await feed;

    const executed = async () => {
      for (const action of actions) {
        if (!(await eventsOf(harness.store, `action-${action.id}`)).some((event) => event.type === 'ActionExecuted')) return false;
      }
      return true;
    };
    await eventually(executed, 60_000, 'every action executed');
    for (const action of actions) {
      const events = await eventsOf(harness.store, `action-${action.id}`);
      expect(events.filter((event) => event.type === 'ActionExecuted'), action.id).to.have.length(1);
    }
    const notes = (await eventsOf(harness.store, `deal-${dealId}`)).filter((event) => event.type === 'DealNoteAdded');
    const noted = actions.filter((action) => action.kind === 'add_note').map((action) => action.id);
    expect(notes.map((note) => note.data.noteId).sort(), 'one note per add_note action').to.deep.equal([...noted].sort());
    for (const action of actions.filter((candidate) => candidate.kind === 'send_email')) expect(calls.get(action.id) ?? 0, action.id).to.be.at.least(1);
    current.child.kill('SIGTERM');
    expect(await current.exit, current.stderr()).to.equal(0);
  });
});
