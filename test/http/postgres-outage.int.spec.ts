import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { RecordedEvent } from '../../src/eventstore/contract.js';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgres-event-store.js';
import { createKnex } from '../../src/platform/database.js';
import { OUTAGE_LOG_INTERVAL_MS } from '../../src/platform/outage-log.js';
import { eventually } from '../support/async.js';
import { withDatabase } from '../support/database.js';
import { createApiKey } from '../support/principals.js';
import { postgresBinaries, startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres.js';
import { spawnDealstream, type DealstreamProcess } from '../support/processes.js';
import { dropTestPrefixes, testPrefix } from '../support/workers.js';

/** How long PostgreSQL stays away: the deliberate outage, the one fixed wait of this test. */
const OUTAGE_MS = 4000;

interface Answer {
  kind: 'note' | 'query';
  status: number;
  startedAt: number;
  endedAt: number;
  type: string;
  retryAfter: string | null;
  location: string | null;
  body: { code?: string; type?: string };
}

/**
 * A real `dealstream all` on a PostgreSQL cluster of the test's own, which is stopped for a few
 * seconds under a steady load of notes and queries, then started again (issue 15).
 */
describe('PostgreSQL stopped and started again under load', function () {
  this.timeout(300_000);
  const binaries = postgresBinaries();
  let server: PrivatePostgres | undefined;
  let api: DealstreamProcess | undefined;
  let databaseUrl: string;
  let base: string;
  let headers: Record<string, string>;

  before(async function () {
    if (!binaries) {
      console.log('      skipped: no PostgreSQL server programs (initdb, pg_ctl) in PG_BIN_DIR or /usr/lib/postgresql/*/bin');
      return this.skip();
    }
    server = await startPrivatePostgres(binaries);
    databaseUrl = withDatabase(server.url, 'dealstream');
    api = spawnDealstream(['all'], {
      DATABASE_URL: databaseUrl,
      QUEUE_PREFIX: testPrefix(),
      PORT: '0',
      // The load comes from one address with one key: limits are another test's subject.
      ...Object.fromEntries(['ADDRESS', 'AUTH_FAILURES', 'COMMAND', 'QUERY', 'EXPORT'].map((name) => [`RATE_LIMIT_${name}`, 'off'])),
    });
    await eventually(() => /api listening/.test(api!.stderr()) || api!.child.exitCode !== null, 120_000, 'the API to listen');
    const listening = api.stderr().split('\n').find((line) => line.includes('"api listening"'));
    expect(listening, api.stderr()).to.be.a('string');
    base = `http://127.0.0.1:${JSON.parse(listening!).port}`;
    const knex = createKnex(databaseUrl, 1);
    try {
      headers = { authorization: `Bearer ${(await createApiKey(knex, 'ops', 'operator')).key}`, 'content-type': 'application/json' };
    } finally {
      await knex.destroy();
    }
  });
  after(async () => {
    if (api && api.child.exitCode === null) {
      api.child.kill('SIGTERM');
      await api.exit;
    }
    await server?.destroy();
    await dropTestPrefixes();
  });

  async function send(kind: Answer['kind'], path: string, init: RequestInit = {}): Promise<Answer> {
    const startedAt = Date.now();
    const res = await fetch(base + path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
    const text = await res.text();
    return {
      kind,
      status: res.status,
      startedAt,
      endedAt: Date.now(),
      type: res.headers.get('content-type') ?? '',
      retryAfter: res.headers.get('retry-after'),
      location: res.headers.get('location'),
      body: text ? (JSON.parse(text) as Answer['body']) : {},
    };
  }

  /** A note sent until the API takes it, with one Idempotency-Key, as a client honouring 503 would (sooner than Retry-After, to keep the test short). */
  async function note(dealId: string, text: string, answers: Answer[], going: () => boolean): Promise<boolean> {
    const key = randomUUID();
    while (going()) {
      const answer = await send('note', `/api/deals/${dealId}/notes`, { method: 'POST', headers: { 'idempotency-key': key }, body: JSON.stringify({ text }) });
      answers.push(answer);
      if (answer.status < 300) return true;
      await sleep(100);
    }
    return false;
  }

  it('answers 503 with Retry-After while it is away, logs the outage a few times, and takes a burst once it is back', async () => {
    const deals: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await send('note', '/api/deals', { method: 'POST', body: JSON.stringify({ name: `Deal ${i}`, company: 'Acme', amount: { amount: '100.00', currency: 'EUR' } }) });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      deals.push(created.location!.split('/').pop()!);
    }

    const answers: Answer[] = [];
    const acknowledged: string[] = [];
    const sent: string[] = [];
    let loading = true;
    const writers = Array.from({ length: 4 }, async (_, writer) => {
      for (let n = 0; loading; n++) {
        const text = `note ${writer}-${n}`;
        sent.push(text);
        if (await note(deals[n % deals.length]!, text, answers, () => loading)) acknowledged.push(text);
        await sleep(20);
      }
    });
    const readers = Array.from({ length: 2 }, async (_, reader) => {
      while (loading) {
        answers.push(await send('query', reader === 0 ? '/api/deals?limit=5' : '/api/pipeline'));
        await sleep(20);
      }
    });
    const load = Promise.all([...writers, ...readers]);

    try {
      await eventually(() => acknowledged.length >= 20, 60_000, 'notes taken before the outage');
      const logFrom = api!.stderr().length;
      await server!.stop();
      const downAt = Date.now();
      const outage = sleep(OUTAGE_MS);
      // Readiness agrees: not ready without PostgreSQL.
      const ready = await fetch(`${base}/health/ready`);
      expect(ready.status).to.equal(503);
      expect(((await ready.json()) as { checks: { postgres: string } }).checks.postgres).to.match(/^unavailable/);
      await outage;
      const upAt = Date.now();
      await server!.start();
      const taken = acknowledged.length;
      await eventually(() => acknowledged.length >= taken + 20, 120_000, 'notes taken after the outage');
      loading = false;
      await load;

      // While it was away: refused as an outage, 503 problem+json with Retry-After, never a 500.
      const failed = api!.stderr().split('\n').filter((line) => line.includes('"request failed"'));
      expect(failed, 'requests failed with a 500').to.deep.equal([]);
      const during = answers.filter((answer) => answer.startedAt >= downAt && answer.endedAt <= upAt);
      expect(during.length, 'requests answered during the outage').to.be.at.least(10);
      for (const answer of during) expect(answer.status, JSON.stringify(answer.body)).to.equal(503);
      for (const answer of answers.filter((each) => each.status >= 300)) {
        expect(answer.status, JSON.stringify(answer.body)).to.equal(503);
        expect(answer.type).to.match(/^application\/problem\+json/);
        expect(Number(answer.retryAfter), 'Retry-After').to.be.within(1, 10);
        expect(answer.body.code).to.equal('DATABASE.UNAVAILABLE');
      }
      expect(during.filter((answer) => answer.kind === 'query').length, 'queries refused too').to.be.greaterThan(0);

      // The log told of the outage a few times, not once per request, and of its end.
      await eventually(() => api!.stderr().slice(logFrom).includes('"postgres is back"'), 30_000, 'the log to say postgres is back');
      const lines = api!
        .stderr()
        .slice(logFrom)
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { level: string; message: string; refused?: number });
      const problems = lines.filter((line) => line.level === 'warn' || line.level === 'error');
      const refusals = lines.filter((line) => line.message.startsWith('postgres unreachable'));
      const report = JSON.stringify(lines, null, 1);
      expect(lines.filter((line) => line.message === 'request failed'), report).to.deep.equal([]);
      expect(refusals.length, report).to.be.within(1, 2 + Math.ceil((Date.now() - downAt) / OUTAGE_LOG_INTERVAL_MS));
      // Every role (API, projectors, relay, listeners) says it once or so: a few dozen lines at most, against hundreds refused.
      expect(problems.length, report).to.be.at.most(30);
      const back = lines.find((line) => line.message === 'postgres is back');
      expect(back!.refused, 'refused requests counted').to.be.at.least(during.length);

      // The backlog's burst on one deal is taken whole: commands on a stream take turns, none conflicts.
      const burst = await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const text = `burst ${i}`;
          sent.push(text);
          return send('note', `/api/deals/${deals[0]}/notes`, { method: 'POST', body: JSON.stringify({ text }) }).then((answer) => {
            if (answer.status === 200) acknowledged.push(text);
            return answer.status;
          });
        }),
      );
      expect(burst.filter((status) => status === 409), '409 STREAM.CONTENDED').to.deep.equal([]);
      expect(burst).to.deep.equal(Array.from({ length: 50 }, () => 200));
    } finally {
      loading = false;
      await load;
    }

    // Every acknowledged note is in the log exactly once; a refused one at most once (it may have
    // been stored before its connection broke: its retry with the same key found it).
    const texts = (await notesInLog()).map((event) => event.data.text as string);
    const counts = new Map<string, number>();
    for (const text of texts) counts.set(text, (counts.get(text) ?? 0) + 1);
    for (const text of acknowledged) expect(counts.get(text), text).to.equal(1);
    expect([...counts].filter(([, count]) => count > 1), 'notes stored twice').to.deep.equal([]);
    expect([...counts.keys()].every((text) => sent.includes(text))).to.equal(true);
  });

  async function notesInLog(): Promise<RecordedEvent[]> {
    const store = new PostgresEventStore({ connectionString: databaseUrl });
    try {
      const notes: RecordedEvent[] = [];
      for await (const event of store.readAll({ filter: { eventTypes: ['DealNoteAdded'] } })) notes.push(event);
      return notes;
    } finally {
      await store.close();
    }
  }
});
