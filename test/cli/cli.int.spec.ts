import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { dealsProjection } from '../../src/projections/deals/deals.projection.js';
import { eventually, patient } from '../support/async.js';
import { TEST_SERVER_URL, adminQuery, dropDatabase, withDatabase } from '../support/database.js';
import { spawnDealstream } from '../support/processes.js';
import { dropTestPrefixes, testPrefix } from '../support/workers.js';

describe('dealstream CLI', function () {
  this.timeout(patient(60_000));
  const database = `dealstream_cli_${randomBytes(4).toString('hex')}`;
  // The worker role (in `all`) keeps its queues under a prefix of the test's own (taken before the tests, not when the file loads).
  const env: Record<string, string> = { DATABASE_URL: withDatabase(TEST_SERVER_URL, database) };
  before(() => void (env.QUEUE_PREFIX = testPrefix()));

  after(async () => {
    await dropDatabase(database);
    await dropTestPrefixes();
  });

  it('migrate creates the database and applies the migrations, once', async () => {
    const first = spawnDealstream(['migrate'], env);
    expect(await first.exit, first.stderr()).to.equal(0);
    expect(first.stderr()).to.match(/created database/).and.match(/applied migrations/);
    const again = spawnDealstream(['migrate'], env);
    expect(await again.exit).to.equal(0);
    expect(again.stderr()).to.match(/schema is up to date/);
    const { rows } = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    expect(rows).to.have.length(1);
  });

  it('all serves the API on PORT and stops cleanly on SIGTERM', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const run = spawnDealstream(['all'], { ...env, PORT: String(port) });
    await eventually(() => /api listening/.test(run.stderr()) || run.child.exitCode !== null, 30_000, 'the API to listen');
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(res.status).to.equal(200);
    run.child.kill('SIGTERM');
    expect(await run.exit, run.stderr()).to.equal(0);
    expect(run.stderr()).to.match(/"stopped"/);
    expect(run.stdout(), 'logs go to stderr; stdout stays free for command output').to.equal('');
  });

  it('stops promptly on SIGTERM even while a keep-alive client keeps sending requests', async () => {
    const run = spawnDealstream(['api'], { ...env, PORT: '0' });
    await eventually(() => /api listening/.test(run.stderr()) || run.child.exitCode !== null, 30_000, 'the API to listen');
    const { port } = JSON.parse(run.stderr().split('\n').find((line) => line.includes('"api listening"'))!);
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    // A request in progress when SIGTERM comes (its body is not all there), so the connection is busy.
    const head = 'POST /health HTTP/1.1\r\nHost: dealstream\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n';
    socket.write(head + '{');
    await sleep(100);
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    await sleep(100);
    socket.write('}');
    // Then the client keeps the connection busy; the answer after SIGTERM closes it instead.
    const sending = setInterval(() => socket.writable && socket.write(head + '{}'), 20);
    try {
      expect(await run.exit, run.stderr()).to.equal(0);
    } finally {
      clearInterval(sending);
      socket.destroy();
    }
    // Stopped, not forced out at the deadline: how soon depends on the machine's load.
    expect(Date.now() - signalled, 'before the 15 s deadline').to.be.below(15_000);
    expect(run.stderr()).to.not.match(/deadline passed/);
  });

  it('stops promptly on SIGTERM with an integration feed open, ending the feed for its client to reconnect elsewhere', async () => {
    const create = spawnDealstream(['keys', 'create', '--name', 'feed-reader', '--role', 'integration'], env);
    expect(await create.exit, create.stderr()).to.equal(0);
    const run = spawnDealstream(['api'], { ...env, PORT: '0' });
    await eventually(() => /api listening/.test(run.stderr()) || run.child.exitCode !== null, 30_000, 'the API to listen');
    const { port } = JSON.parse(run.stderr().split('\n').find((line) => line.includes('"api listening"'))!);
    const feed = await fetch(`http://127.0.0.1:${port}/api/integrations/feed`, { headers: { authorization: `Bearer ${create.stdout().trim()}` } });
    expect(feed.status).to.equal(200);
    const reading = feed.text(); // ends when the server ends the stream
    const signalled = Date.now();
    run.child.kill('SIGTERM');
    expect(await run.exit, run.stderr()).to.equal(0);
    expect(await reading).to.match(/^retry: /);
    expect(Date.now() - signalled, 'before the next heartbeat and the deadline (15 s)').to.be.below(15_000);
    expect(run.stderr()).to.not.match(/deadline passed/);
  });

  it('api drains the commands in flight on SIGTERM: every acknowledged write is stored, none fails', async () => {
    const create = spawnDealstream(['keys', 'create', '--name', 'drain-operator', '--role', 'operator'], env);
    expect(await create.exit, create.stderr()).to.equal(0);
    const headers = { authorization: `Bearer ${create.stdout().trim()}`, 'content-type': 'application/json' };
    const run = spawnDealstream(['api'], { ...env, PORT: '0' });
    await eventually(() => /api listening/.test(run.stderr()) || run.child.exitCode !== null, 30_000, 'the API to listen');
    const listening = run.stderr().split('\n').find((line) => line.includes('"api listening"'));
    expect(listening, run.stderr()).to.be.a('string');
    const api = `http://127.0.0.1:${JSON.parse(listening!).port}/api`;
    // Ten notes a deal: a note that loses a race is decided again, at most nine times, never STREAM.CONTENDED.
    const dealIds: string[] = [];
    for (let i = 0; i < 8; i++) {
      const body = JSON.stringify({ name: `Drain ${i}`, company: 'Drain Ltd', amount: { amount: '1.00', currency: 'USD' } });
      const res = await fetch(`${api}/deals`, { method: 'POST', headers, body });
      expect(res.status, await res.text()).to.equal(201);
      dealIds.push(res.headers.get('location')!.split('/').pop()!);
    }

    let signalled = false;
    let settled = 0;
    const burst = Array.from({ length: 80 }, async (_, i) => {
      try {
        // Connection: close, or the connections answered after SIGTERM would hold the server open until the client dropped them.
        const res = await fetch(`${api}/deals/${dealIds[i % dealIds.length]}/notes`, {
          method: 'POST',
          headers: { ...headers, connection: 'close' },
          body: JSON.stringify({ text: `note ${i}` }),
        });
        return { status: res.status, body: await res.text(), afterSignal: signalled };
      } catch (error) {
        return { refused: String((error as { cause?: { code?: string } }).cause?.code ?? error), afterSignal: signalled };
      } finally {
        settled++;
      }
    });
    // A first note is answered: the others are on their way or being decided when the signal comes.
    await eventually(() => settled > 0, 10_000, 'a first note');
    run.child.kill('SIGTERM');
    signalled = true;
    const results = await Promise.all(burst);
    expect(await run.exit, run.stderr()).to.equal(0);

    const stderr = run.stderr();
    expect(stderr).to.not.include('Cannot use a pool after calling end');
    expect(stderr).to.not.match(/"level":"error"/);
    expect(stderr).to.match(/"shutting down"/).and.match(/"stopped"/);
    for (const result of results) {
      const what = JSON.stringify(result);
      // Refused only by the closing server, before reaching a handler: a connection it would not take, or no longer kept.
      if ('refused' in result) expect(result.refused, what).to.be.oneOf(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);
      if ('refused' in result) expect(result.afterSignal, what).to.equal(true);
      else expect(result.status, what).to.equal(200);
    }
    const acknowledged = results.filter((result) => 'status' in result);
    expect(acknowledged.filter((result) => result.afterSignal), 'notes answered after SIGTERM').to.have.length.above(0);
    const streams = dealIds.map((id) => `deal-${id}`);
    const { rows } = await adminQuery(`SELECT count(*)::int AS n FROM events WHERE stream_id = ANY($1) AND type = 'DealNoteAdded'`, [streams], database);
    expect(rows[0].n, 'notes stored: each acknowledged one, and no other').to.equal(acknowledged.length);
  });

  it('keys create prints the new key alone on stdout; list never shows it; revoke ends it', async () => {
    const create = spawnDealstream(['keys', 'create', '--name', 'first-admin', '--role', 'admin'], env);
    expect(await create.exit, create.stderr()).to.equal(0);
    expect(create.stdout()).to.match(/^ds_[A-Za-z0-9_-]{43}\n$/);
    const key = create.stdout().trim();

    const list = spawnDealstream(['keys', 'list'], env);
    expect(await list.exit).to.equal(0);
    expect(list.stdout()).to.match(/\tfirst-admin\t[0-9a-f-]{36}\tadmin\t.*\tactive\n/).and.not.include(key);
    const { rows } = await adminQuery(`SELECT key_hash FROM api_keys WHERE name = 'first-admin'`, [], database);
    expect(rows[0].key_hash).to.match(/^[0-9a-f]{64}$/).and.not.include(key);

    const revoke = spawnDealstream(['keys', 'revoke', 'first-admin'], env);
    expect(await revoke.exit).to.equal(0);
    const again = spawnDealstream(['keys', 'revoke', 'first-admin'], env);
    expect(await again.exit).to.equal(2);
    expect(again.stderr()).to.include('no active key "first-admin"');
  });

  it('projections status and rebuild: the state of each read model, and a rebuild swapped in with its progress on stderr', async () => {
    const before = spawnDealstream(['projections', 'status', '--json'], env);
    expect(await before.exit, before.stderr()).to.equal(0);
    const statuses = JSON.parse(before.stdout()) as { name: string; state: string; schema: string }[];
    expect(statuses.map((status) => status.name)).to.deep.equal(['deals', 'actions', 'agents', 'timeline']);
    expect(statuses.every((status) => status.state === 'stopped'), 'no projector runs').to.equal(true);

    const rebuild = spawnDealstream(['projections', 'rebuild', 'deals'], env);
    expect(await rebuild.exit, rebuild.stderr()).to.equal(0);
    expect(rebuild.stderr()).to.match(/deals\s+\[.*\] \d+%/).and.match(/rebuilt deals in [\d.]+ s and swapped them in/);
    const after = spawnDealstream(['projections', 'status', '--json'], env);
    expect(await after.exit).to.equal(0);
    const deals = (JSON.parse(after.stdout()) as { name: string; schema: string }[]).find((status) => status.name === 'deals')!;
    expect(deals.schema).to.not.equal(statuses[0]!.schema);

    const table = spawnDealstream(['projections', 'status'], env);
    expect(await table.exit).to.equal(0);
    expect(table.stdout()).to.match(/^projection\tstate\tversion/).and.include(`\ndeals\tstopped\tv${dealsProjection.version}\t`);
    const unknown = spawnDealstream(['projections', 'rebuild', 'nothing'], env);
    expect(await unknown.exit).to.equal(2);
    expect(unknown.stderr()).to.include('unknown projection nothing');
  });

  it('keys create refuses an unknown role', async () => {
    const run = spawnDealstream(['keys', 'create', '--name', 'x', '--role', 'king'], env);
    expect(await run.exit).to.not.equal(0);
    expect(run.stderr()).to.match(/--role.*king.*invalid/);
    expect(run.stdout()).to.equal('');
  });

  it('stops at start-up with one clear message naming a bad setting', async () => {
    const run = spawnDealstream(['api'], { ...env, PORT: 'abc' });
    expect(await run.exit).to.equal(2);
    expect(run.stderr().trim()).to.equal('dealstream: Invalid configuration: PORT: must be an integer from 0 to 65535 (got "abc")');
  });

  it('says what to do when PostgreSQL cannot be reached', async () => {
    const run = spawnDealstream(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/dealstream' });
    expect(await run.exit).to.equal(1);
    expect(run.stderr()).to.match(/cannot connect to 127\.0\.0\.1:1.*is PostgreSQL running/);
  });
});
