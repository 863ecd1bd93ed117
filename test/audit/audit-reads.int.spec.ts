import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { MAX_SCAN } from '../../src/audit/log-selection.js';
import { positionCursor } from '../../src/audit/query-params.js';
import { encodeCursor } from '../../src/queries/pagination.js';
import { GENESIS_HASH } from '../../src/commands/hash-chain.js';
import type { RecordedEvent } from '../../src/eventstore/contract.js';
import { collect, patient } from '../support/async.js';
import { logSettled } from '../support/event-store.js';
import { dealActivity, startAuditApp, type AuditApp } from './audit-app.js';

interface Page {
  items: { id: string; streamId: string; revision: string; position: string; type: string; recordedAt: string; data: object; metadata: Record<string, unknown> }[];
  nextCursor: string | null;
  caughtUp?: boolean;
}

describe('audit reads: stream histories and the log', function () {
  this.timeout(patient(30_000));
  let app: AuditApp;
  let ids: Awaited<ReturnType<typeof dealActivity>>;
  let log: RecordedEvent[];
  const idsOf = (events: { id: string }[]) => events.map((event) => event.id);

  /** Every page of a paged read, following nextCursor as `cursorParam` until `done` says it is the last. */
  async function allPages(path: string, query: Record<string, string | number>, cursorParam: string, done: (page: Page) => boolean): Promise<Page[]> {
    const pages: Page[] = [];
    for (let cursor: string | null | undefined; ; ) {
      const res = await app.get(path, { ...query, ...(cursor ? { [cursorParam]: cursor } : {}) }).expect(200);
      pages.push(res.body);
      if (done(res.body)) return pages;
      cursor = res.body.nextCursor;
    }
  }

  before(async () => {
    app = await startAuditApp();
    ids = await dealActivity(app.send);
    await logSettled(app.harness.knex);
    log = await collect(app.harness.store.readAll());
  });
  after(() => app.harness.close());

  it("pages through a stream's history with an opaque cursor, every event with its whole envelope and metadata", async () => {
    const streamId = `deal-${ids.acme}`;
    const pages = await allPages(`/api/audit/streams/${streamId}/events`, { limit: 2 }, 'cursor', (page) => page.nextCursor === null);
    expect(pages.map((page) => page.items.length)).to.deep.equal([2, 2]);
    expect(pages[0]!.nextCursor, 'opaque, not a revision').to.match(/^[A-Za-z0-9_-]+$/).and.not.match(/^\d+$/);
    const stored = await collect(app.harness.store.readStream(streamId));
    expect(pages.flatMap((page) => page.items)).to.deep.equal(
      stored.map((event) => ({
        id: event.id, streamId, revision: String(event.revision), position: event.position, type: event.type,
        recordedAt: event.recordedAt.toISOString(), data: event.data, metadata: event.metadata,
      })),
    );
    const [created] = pages[0]!.items;
    expect(created!.type).to.equal('DealCreated');
    expect(created!.metadata).to.include({ prevHash: GENESIS_HASH, schemaVersion: 1 });
    expect(created!.metadata).to.have.keys('actor', 'correlationId', 'causationId', 'occurredAt', 'schemaVersion', 'prevHash', 'hash');
    expect(created!.metadata.actor).to.deep.equal({ kind: 'user', id: 'ops' });
    expect(created!.metadata.hash).to.match(/^[0-9a-f]{64}$/);
  });

  it('still takes fromRevision, the deprecated name of a first revision, for one version', async () => {
    const streamId = `deal-${ids.acme}`;
    const [first] = await allPages(`/api/audit/streams/${streamId}/events`, { limit: 2 }, 'cursor', () => true);
    const byCursor = await app.get(`/api/audit/streams/${streamId}/events`, { cursor: first!.nextCursor! }).expect(200);
    const byRevision = await app.get(`/api/audit/streams/${streamId}/events`, { fromRevision: 2 }).expect(200);
    expect(byRevision.body).to.deep.equal(byCursor.body);
    expect(idsOf(byRevision.body.items)).to.deep.equal(idsOf((await collect(app.harness.store.readStream(streamId))).slice(2)));
  });

  it('answers an unknown stream with a 404 problem, and a revision past the end with an empty last page', async () => {
    const streamId = `deal-${randomUUID()}`;
    const missing = await app.get(`/api/audit/streams/${streamId}/events`).expect(404);
    expect(missing.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(missing.body).to.deep.include({ type: '/problems/stream-not-found', title: 'Stream not found', code: 'STREAM.NOT_FOUND', detail: `${streamId} has no events` });
    const past = await app.get(`/api/audit/streams/deal-${ids.acme}/events`, { fromRevision: 99 }).expect(200);
    expect(past.body).to.deep.include({ items: [], nextCursor: null });
  });

  it('pages through the whole log with an opaque cursor, which passes the last event examined', async () => {
    const pages = await allPages('/api/audit/events', { limit: 5 }, 'cursor', (page) => page.caughtUp!);
    expect(idsOf(pages.flatMap((page) => page.items))).to.deep.equal(idsOf(log));
    expect(pages.at(-1)!.nextCursor, 'where to come back for what is appended later').to.equal(positionCursor(log.at(-1)!.position));
    expect(pages.slice(0, -1).every((page) => !page.caughtUp && page.items.length === 5)).to.equal(true);
    expect(pages.map((page) => page.nextCursor), 'opaque, not a position').to.not.include(log[4]!.position);

    const first = await app.get('/api/audit/events', { limit: 4 }).expect(200);
    const after = await app.get('/api/audit/events', { cursor: first.body.nextCursor }).expect(200);
    expect(idsOf(after.body.items)).to.deep.equal(idsOf(log.slice(4)));
  });

  it('still takes from (a position) and deal, the deprecated names of cursor and dealId, for one version', async () => {
    const byPosition = await app.get('/api/audit/events', { from: log[3]!.position }).expect(200);
    expect(idsOf(byPosition.body.items)).to.deep.equal(idsOf(log.slice(4)));
    const first = await app.get('/api/audit/events', { limit: 4 }).expect(200);
    expect((await app.get('/api/audit/events', { cursor: first.body.nextCursor }).expect(200)).body).to.deep.equal(byPosition.body);

    const byDeal = await app.get('/api/audit/events', { deal: ids.acme }).expect(200);
    expect(byDeal.body).to.deep.equal((await app.get('/api/audit/events', { dealId: ids.acme }).expect(200)).body);
    expect(byDeal.body.items.length).to.be.above(0);
  });

  it('filters the log by categories and by event types, given as comma lists', async () => {
    const actionsAndAgents = await app.get('/api/audit/events', { category: 'action,agent' }).expect(200);
    expect(idsOf(actionsAndAgents.body.items)).to.deep.equal(idsOf(log.filter((event) => /^(action|agent)-/.test(event.streamId))));
    const types = await app.get('/api/audit/events', { type: 'DealCreated,ActionApproved', limit: 2 }).expect(200);
    expect(idsOf(types.body.items)).to.deep.equal(idsOf(log.filter((event) => ['DealCreated', 'ActionApproved'].includes(event.type)).slice(0, 2)));
    expect(types.body.nextCursor).to.equal(positionCursor(types.body.items[1].position));
  });

  it("filters the log by deal: the deal's stream and those of its actions and agent runs, also from mid-log", async () => {
    const dealStreams = [`deal-${ids.acme}`, `action-${ids.email}`, `agent-${ids.agent}-run-${ids.run}`];
    const ofAcme = log.filter((event) => dealStreams.includes(event.streamId));
    expect(new Set(ofAcme.map((event) => event.streamId)).size, 'all three kinds of stream occur').to.equal(3);

    const pages = await allPages('/api/audit/events', { dealId: ids.acme, limit: 2 }, 'cursor', (page) => page.caughtUp!);
    expect(idsOf(pages.flatMap((page) => page.items))).to.deep.equal(idsOf(ofAcme));

    // From after the proposal and the run's start: their streams are recognised by their first events all the same.
    const runStarted = log.find((event) => event.type === 'AgentRunStarted')!;
    const later = await app.get('/api/audit/events', { dealId: ids.acme, cursor: positionCursor(runStarted.position) }).expect(200);
    expect(later.body.items.map((event: { type: string }) => event.type)).to.deep.equal(['ActionApprovalGiven', 'ActionApproved', 'AgentToolCalled', 'DealOwnerAssigned']);
    expect(idsOf(later.body.items)).to.deep.equal(idsOf(ofAcme.filter((event) => event.position > runStarted.position)));
  });

  it('lets auditors and admins read; any other role gets 403, no key 401', async () => {
    const paths: [string, Record<string, string | number>][] = [
      [`/api/audit/streams/deal-${ids.acme}/events`, {}],
      ['/api/audit/events', {}],
      [`/api/audit/deals/${ids.acme}/state`, { revision: 0 }],
      [`/api/audit/actions/${ids.email}/state`, { revision: 0 }],
      ['/api/audit/export', { category: 'deal' }],
      [`/api/audit/streams/deal-${ids.acme}/verify`, {}],
    ];
    for (const [path, query] of paths) {
      expect((await app.get(path, query, null)).status, `${path} without a key`).to.equal(401);
      for (const who of ['ops', 'ana', 'scout']) {
        const res = await app.get(path, query, who);
        expect(res.status, `${path} as ${who}`).to.equal(403);
        expect(res.body.type).to.equal('/problems/forbidden');
      }
      for (const who of ['audit', 'boss']) expect((await app.get(path, query, who)).status, `${path} as ${who}`).to.equal(200);
    }
  });

  it('answers bad input with a 400 problem naming each field', async () => {
    const acmeState = `/api/audit/deals/${ids.acme}/state`;
    const cases: [string, Record<string, string | number>, string[]][] = [
      ['/api/audit/events', { limit: 0 }, ['limit']],
      ['/api/audit/events', { limit: 1001, from: 'zzz', colour: 'red' }, ['limit', 'from', 'colour']],
      ['/api/audit/events', { from: '0'.repeat(31) + 'g', category: 'deal,no such', deal: 'acme', dealId: 'acme' }, ['from', 'category', 'deal', 'dealId']],
      // Forged cursors: not base64url JSON, the wrong shape, a position posing as a cursor, another route's cursor.
      ['/api/audit/events', { cursor: 'forged' }, ['cursor']],
      ['/api/audit/events', { cursor: encodeCursor(['zzz']) }, ['cursor']],
      ['/api/audit/events', { cursor: log[0]!.position }, ['cursor']],
      ['/api/audit/events', { cursor: encodeCursor(['3']) }, ['cursor']],
      [`/api/audit/streams/deal-${ids.acme}/events`, { cursor: positionCursor(log[0]!.position) }, ['cursor']],
      [`/api/audit/streams/deal-${ids.acme}/events`, { cursor: encodeCursor([-1]) }, ['cursor']],
      // A name and its deprecated one: one of them, not both.
      ['/api/audit/events', { cursor: positionCursor(log[0]!.position), from: log[0]!.position }, ['from']],
      ['/api/audit/events', { deal: ids.acme, dealId: ids.acme }, ['deal']],
      [`/api/audit/streams/deal-${ids.acme}/events`, { cursor: encodeCursor(['1']), fromRevision: 1 }, ['fromRevision']],
      ['/api/audit/export', { deal: ids.acme, dealId: ids.acme }, ['deal']],
      [`/api/audit/streams/deal-${ids.acme}/events`, { fromRevision: -1, limit: 'many' }, ['fromRevision', 'limit']],
      [acmeState, {}, ['revision', 'at']],
      [acmeState, { revision: 1, at: '2026-01-01T00:00:00Z' }, ['revision', 'at']],
      [acmeState, { revision: 'first' }, ['revision']],
      [acmeState, { at: 'yesterday' }, ['at']],
      ['/api/audit/deals/acme/state', { revision: 0 }, ['id']],
      ['/api/audit/export', { from: 'zzz', to: 'end' }, ['from', 'to']],
      // Refused by the store's own stream id rule, before it reaches the store.
      ['/api/audit/export', { stream: 'a b' }, ['stream']],
    ];
    for (const [path, query, fields] of cases) {
      const res = await app.get(path, query);
      expect(res.status, `${path} ${JSON.stringify(query)}`).to.equal(400);
      expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
      expect(res.body.errors.map((error: { field: string }) => error.field), `${path} ${JSON.stringify(query)}`).to.have.members(fields);
      if (fields.includes('cursor')) expect(res.body.errors[0].message).to.equal('must be a nextCursor returned by a previous page');
    }
  });

  // Last: it appends thousands of events.
  it(`bounds a deal's scan to ${MAX_SCAN} events per page; a page may come back short, and its cursor advances`, async () => {
    const dealStreams = [`deal-${ids.acme}`, `action-${ids.email}`, `agent-${ids.agent}-run-${ids.run}`];
    const others = Array.from({ length: 21 }, () => `deal-${randomUUID()}`);
    for (const streamId of others) {
      const events = Array.from({ length: 500 }, (_, n) => ({ type: 'DealNoteAdded', data: { dealId: streamId.slice(5), noteId: randomUUID(), text: `note ${n}`, authorId: 'bo' } }));
      await app.harness.store.append(streamId, events, { expectedRevision: 'no_stream' });
    }
    await app.send(`/api/deals/${ids.acme}/notes`, { text: 'After the flood' }, 'ops');
    await logSettled(app.harness.knex);
    const scanned = (await collect(app.harness.store.readAll({ filter: { categories: ['deal', 'action', 'agent'] } })));

    const first = await app.get('/api/audit/events', { dealId: ids.acme, limit: 1000 }).expect(200);
    expect(idsOf(first.body.items)).to.deep.equal(idsOf(log.filter((event) => dealStreams.includes(event.streamId))));
    expect(first.body).to.deep.include({ nextCursor: positionCursor(scanned[MAX_SCAN - 1]!.position), caughtUp: false });

    const second = await app.get('/api/audit/events', { dealId: ids.acme, limit: 1000, cursor: first.body.nextCursor }).expect(200);
    expect(second.body.items.map((event: { data: { text?: string } }) => event.data.text)).to.deep.equal(['After the flood']);
    expect(second.body).to.deep.include({ nextCursor: positionCursor(scanned.at(-1)!.position), caughtUp: true });
  });
});
