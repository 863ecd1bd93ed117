import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect } from 'chai';
import type { RecordedEvent } from '../../src/eventstore/contract.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { collect, eventually, patient } from '../support/async.js';
import { TEST_EVENT_STORE, logSettled } from '../support/event-store.js';
import { spawnDealstream } from '../support/processes.js';
import { dealActivity, startAuditApp, type AuditApp } from './audit-app.js';

/** The heap still in use (live objects only): garbage collected first, so the sample does not depend on when V8 would have. */
function retainedHeap(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

const parseLines = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; revision: string; metadata: object });
const idsOf = (events: { id: string }[]) => events.map((event) => event.id);

describe('audit export: NDJSON of a selection, over HTTP and from the CLI', function () {
  this.timeout(patient(30_000));
  let app: AuditApp;
  let ids: Awaited<ReturnType<typeof dealActivity>>;
  let log: RecordedEvent[];
  const ofAcme = () => log.filter((event) => [`deal-${ids.acme}`, `action-${ids.email}`, `agent-${ids.agent}-run-${ids.run}`].includes(event.streamId));

  before(async () => {
    app = await startAuditApp();
    ids = await dealActivity(app.send);
    await logSettled(app.harness.knex);
    log = await collect(app.harness.store.readAll());
  });
  after(() => app.harness.close());

  async function exported(query: Record<string, string>) {
    const res = await app.get('/api/audit/export', query).buffer(true).parse((stream, done) => {
      let text = '';
      stream.on('data', (chunk: Buffer) => (text += chunk));
      stream.on('end', () => done(null, text));
    }).expect(200);
    expect(res.headers['content-type']).to.match(/^application\/x-ndjson/);
    return parseLines(res.body as string);
  }

  it('exports a stream, categories, a deal or a position range, one JSON event per line', async () => {
    const email = await exported({ stream: `action-${ids.email}` });
    expect(idsOf(email)).to.deep.equal(idsOf(log.filter((event) => event.streamId === `action-${ids.email}`)));
    expect(email[0]).to.include({ revision: '0' }).and.to.have.keys('id', 'streamId', 'revision', 'position', 'type', 'recordedAt', 'data', 'metadata');
    expect(email[0]!.metadata).to.include.keys('actor', 'correlationId', 'causationId', 'occurredAt', 'prevHash', 'hash');

    expect(idsOf(await exported({ category: 'deal,agent' }))).to.deep.equal(idsOf(log.filter((event) => /^(deal|agent)-/.test(event.streamId))));
    expect(idsOf(await exported({ dealId: ids.acme }))).to.deep.equal(idsOf(ofAcme()));
    expect(idsOf(await exported({ deal: ids.acme })), 'by the deprecated name, for one version').to.deep.equal(idsOf(ofAcme()));
    expect(idsOf(await exported({ from: log[2]!.position, to: log[6]!.position })), 'from is exclusive, to inclusive').to.deep.equal(idsOf(log.slice(3, 7)));
    expect(idsOf(await exported({ stream: `action-${ids.email}`, from: log[2]!.position, type: 'ActionApproved' }))).to.have.length(1);

    const missing = await app.get('/api/audit/export', { stream: `deal-${randomUUID()}` }).expect(404);
    expect(missing.headers['content-type']).to.match(/^application\/problem\+json/);
  });

  it('exports from the CLI to a file or to stdout, counting on stderr; a bad option is a usage error', async () => {
    const env = { DATABASE_URL: app.harness.db.url, ...app.harness.storeEnv };
    const file = join(tmpdir(), `dealstream-export-${randomUUID()}.ndjson`);
    try {
      const toFile = spawnDealstream(['audit', 'export', '--deal', ids.acme, '--out', file], env);
      expect(await toFile.exit, toFile.stderr()).to.equal(0);
      expect(idsOf(parseLines(await readFile(file, 'utf8')))).to.deep.equal(idsOf(ofAcme()));
      expect(toFile.stderr()).to.match(new RegExp(`exported ${ofAcme().length} events to ${file}`)).and.match(/exported \d+ events \|/);
    } finally {
      await rm(file, { force: true });
    }

    const toStdout = spawnDealstream(['audit', 'export', '--category', 'action', '--from', log[4]!.position], env);
    expect(await toStdout.exit, toStdout.stderr()).to.equal(0);
    expect(idsOf(parseLines(toStdout.stdout()))).to.deep.equal(idsOf(log.slice(5).filter((event) => event.streamId.startsWith('action-'))));

    const bad = spawnDealstream(['audit', 'export', '--from', 'yesterday'], env);
    expect(await bad.exit).to.equal(2);
    expect(bad.stderr()).to.match(/--from: must be a position token/);
  });
});

describe('audit export of a large log', function () {
  this.timeout(patient(60_000));
  // The EventStoreDB double runs in this process, holds the log in this heap and serves it slowly:
  // there the export is checked on a fifth of the log (the back-pressure bound tells only here).
  const EVENTS = TEST_EVENT_STORE === 'postgres' ? 100_000 : 20_000;
  let harness: TestApp;
  let auditorKey: string;
  let server: http.Server;

  before(async () => {
    harness = await startTestApp();
    auditorKey = (await createKeys(harness.knex, { audit: 'auditor' })).audit!;
    // About 1 KB each: 100 MB of NDJSON, which an export that ignored back-pressure would hold in memory (82 MB measured).
    const text = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(14);
    const streams = Array.from({ length: EVENTS / 500 }, () => `deal-${randomUUID()}`);
    let next = 0;
    const appendStreams = async () => {
      for (let streamId = streams[next++]; streamId; streamId = streams[next++]) {
        const events = Array.from({ length: 500 }, (_, n) => ({ type: 'DealNoteAdded', data: { dealId: streamId.slice(5), noteId: randomUUID(), text: `${n} ${text}`, authorId: 'bo' } }));
        await harness.store.append(streamId, events, { expectedRevision: 'no_stream' });
      }
    };
    await Promise.all(Array.from({ length: 4 }, appendStreams));
    await logSettled(harness.knex); // for the export to read it all
    server = harness.app.listen(0);
    await once(server, 'listening');
  });
  after(async () => {
    server?.close();
    await harness.close();
  });

  function exportRequest(): http.ClientRequest {
    const { port } = server.address() as AddressInfo;
    return http.get({ port, path: '/api/audit/export', headers: { authorization: `Bearer ${auditorKey}` } });
  }

  it(`streams ${EVENTS} events to a slow client with back-pressure, in flat memory`, async () => {
    const baseline = retainedHeap();
    let peak = baseline;
    // A sample collects garbage first, the slower the busier the machine: the next comes after four
    // times as long (250 ms at least), or sampling would take the test's time (63% at a load of 10).
    const sample = () => {
      const started = performance.now();
      peak = Math.max(peak, retainedHeap());
      sampling = setTimeout(sample, Math.max(250, 4 * (performance.now() - started)));
    };
    let sampling = setTimeout(sample, 250);
    let lines = 0;
    try {
      const [res] = (await once(exportRequest(), 'response')) as [http.IncomingMessage];
      expect(res.statusCode).to.equal(200);
      let paused = false;
      res.on('data', (chunk: Buffer) => {
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
        if (paused) return;
        // A client that stops reading for a while: the server must wait, not buffer the log.
        paused = true;
        res.pause();
        setTimeout(() => res.resume(), 1500);
      });
      await once(res, 'end');
    } finally {
      clearTimeout(sampling);
    }
    expect(lines).to.equal(EVENTS);
    expect((peak - baseline) / 2 ** 20, 'growth of the retained heap in MB').to.be.below(50);
  });

  it('stops reading the log when the client goes away', async () => {
    let read = 0;
    let stopped = false;
    const readAll = harness.store.readAll.bind(harness.store);
    harness.store.readAll = async function* (options) {
      try {
        for await (const event of readAll(options)) {
          read++;
          yield event;
        }
      } finally {
        stopped = true;
      }
    };
    try {
      const request = exportRequest();
      const [res] = (await once(request, 'response')) as [http.IncomingMessage];
      await once(res, 'data');
      request.destroy();
      await eventually(() => stopped, 5000, 'the read of the log to end');
      expect(read).to.be.below(EVENTS / 2);
    } finally {
      harness.store.readAll = readAll;
    }
  });
});
