import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { eventHash } from '../../src/commands/hash-chain.js';
import type { RecordedEvent } from '../../src/eventstore/contract.js';
import { collect, patient } from '../support/async.js';
import { adminQuery } from '../support/database.js';
import { TEST_EVENT_STORE, logSettled } from '../support/event-store.js';
import { spawnDealstream } from '../support/processes.js';
import { dealActivity, startAuditApp, type AuditApp } from './audit-app.js';

/** The activity's 7 streams (6 chained, 1 not) and the histories of the 5 principals whose keys the app made. */
const STREAMS = 12;

describe('audit verify: hash chains over HTTP and from the CLI', function () {
  this.timeout(patient(30_000));
  let app: AuditApp;
  let ids: Awaited<ReturnType<typeof dealActivity>>;
  let env: Record<string, string>;
  /** A stream appended around handleCommand, without hashes (as a bulk import would). */
  const unchained = `deal-${randomUUID()}`;
  const streams = () => ({
    acme: `deal-${ids.acme}`,
    globex: `deal-${ids.globex}`,
    email: `action-${ids.email}`,
    meeting: `action-${ids.meeting}`,
    agent: `agent-${ids.agent}`,
    run: `agent-${ids.agent}-run-${ids.run}`,
  });
  const verifyCli = async (...args: string[]) => {
    const run = spawnDealstream(['audit', 'verify', ...args], env);
    return { code: await run.exit, stdout: run.stdout(), stderr: run.stderr() };
  };

  before(async () => {
    app = await startAuditApp();
    env = { DATABASE_URL: app.harness.db.url, ...app.harness.storeEnv };
    ids = await dealActivity(app.send);
    const note = (text: string) => ({ type: 'DealNoteAdded', data: { dealId: unchained.slice(5), noteId: randomUUID(), text, authorId: 'bo' } });
    await app.harness.store.append(unchained, [note('imported 1'), note('imported 2')], { expectedRevision: 'no_stream' });
    await logSettled(app.harness.knex); // for the whole log's count and the CLI's read
  });
  after(() => app.harness.close());

  it('finds every chain written by commands intact, and says which stream carries none', async () => {
    for (const streamId of Object.values(streams())) {
      const events = (await collect(app.harness.store.readStream(streamId))).length;
      const { body } = await app.get(`/api/audit/streams/${streamId}/verify`).expect(200);
      expect(body, streamId).to.deep.equal({ streamId, events, chained: true, valid: true });
    }
    expect((await app.get(`/api/audit/streams/${unchained}/verify`).expect(200)).body).to.deep.equal({ streamId: unchained, events: 2, chained: false, valid: false });
    expect((await app.get(`/api/audit/streams/deal-${randomUUID()}/verify`).expect(404)).body.type).to.equal('/problems/stream-not-found');
  });

  it('verifies the whole log from the CLI in one read, with a counter on stderr', async () => {
    const events = (await collect(app.harness.store.readAll())).length;
    const human = await verifyCli();
    expect(human.code, human.stderr).to.equal(0);
    expect(human.stdout).to.equal(`unchained\t${unchained}\nstreams ${STREAMS}, events ${events}, broken 0, unchained 1\n`);
    expect(human.stderr).to.match(/verified \d+ events \|/);

    const json = await verifyCli('--json');
    expect(json.code, json.stderr).to.equal(0);
    expect(JSON.parse(json.stdout)).to.deep.equal({ valid: true, streams: STREAMS, events, broken: [], unchained: [unchained] });
  });

  describe('tampering with the stored log (PostgreSQL only: the EventStoreDB double has no table to tamper with)', () => {
    let original: Record<'acme' | 'email' | 'run', RecordedEvent[]>;

    before(async function () {
      if (TEST_EVENT_STORE !== 'postgres') this.skip();
      const { acme, email, run } = streams();
      original = {
        acme: await collect(app.harness.store.readStream(acme)),
        email: await collect(app.harness.store.readStream(email)),
        run: await collect(app.harness.store.readStream(run)),
      };
      const literal = (text: string) => pg.escapeLiteral(text);
      // The table's triggers refuse UPDATE and DELETE (events_append_only); replica mode skips them.
      await adminQuery(
        `BEGIN;
         SET LOCAL session_replication_role = replica;
         UPDATE events SET data = jsonb_set(data, '{text}', '"Call went badly"') WHERE stream_id = ${literal(acme)} AND revision = 2;
         DELETE FROM events WHERE stream_id = ${literal(email)} AND revision = 2;
         UPDATE events SET metadata = jsonb_set(metadata, '{prevHash}', '"${'f'.repeat(64)}"') WHERE stream_id = ${literal(run)} AND revision = 1;
         COMMIT;`,
        [],
        app.harness.db.name,
      );
    });

    /** Each break as it must be reported: the stream, the revision, the hash expected there and the one found. */
    async function expectedBreaks() {
      const { acme, email, run } = streams();
      const edited = (await collect(app.harness.store.readStream(acme)))[2]!;
      expect(edited.data.text).to.equal('Call went badly');
      return {
        [acme]: { revision: '2', reason: 'hash_mismatch', expected: eventHash(original.acme[1]!.metadata.hash as string, edited), found: original.acme[2]!.metadata.hash },
        [email]: { revision: '2', reason: 'revision_gap', expected: original.email[1]!.metadata.hash, found: original.email[3]!.metadata.prevHash },
        [run]: { revision: '1', reason: 'prev_hash_mismatch', expected: original.run[0]!.metadata.hash, found: 'f'.repeat(64) },
      };
    }

    it('names the broken link of each tampered stream over HTTP: revision, expected and found hash', async () => {
      const breaks = await expectedBreaks();
      for (const [streamId, brokenLink] of Object.entries(breaks)) {
        const { body } = await app.get(`/api/audit/streams/${streamId}/verify`).expect(200);
        expect(body, streamId).to.deep.include({ streamId, chained: true, valid: false }).and.to.have.property('brokenLink').that.deep.equals(brokenLink);
      }
      expect((await app.get(`/api/audit/streams/${streams().globex}/verify`).expect(200)).body.valid, 'the others stay valid').to.equal(true);
    });

    it('reports every broken stream from the CLI and exits with 1', async () => {
      const breaks = await expectedBreaks();
      const human = await verifyCli();
      expect(human.code, human.stderr).to.equal(1);
      for (const [streamId, b] of Object.entries(breaks)) {
        expect(human.stdout).to.include(`broken\t${streamId}\trevision ${b.revision}\t${b.reason}\texpected ${b.expected}\tfound ${b.found}\n`);
      }
      expect(human.stdout).to.match(new RegExp(`^streams ${STREAMS}, events \\d+, broken 3, unchained 1$`, 'm'));

      const json = await verifyCli('--json');
      expect(json.code).to.equal(1);
      const report = JSON.parse(json.stdout);
      expect(report.valid).to.equal(false);
      expect(report.broken).to.have.deep.members(Object.entries(breaks).map(([streamId, b]) => ({ streamId, ...b })));
    });
  });
});
