import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Knex } from 'knex';
import request from 'supertest';
import { GENESIS_HASH, chainEvents } from '../../src/commands/hash-chain.js';
import { StreamStates, handleCommand } from '../../src/commands/handle-command.js';
import { dealDecider } from '../../src/domain/deals/deal.decider.js';
import type { DomainEvent } from '../../src/domain/shared/event.js';
import type { JsonObject, Position, RecordedEvent } from '../../src/eventstore/contract.js';
import { comparePositions } from '../../src/eventstore/position.js';
import { createKnex } from '../../src/platform/database.js';
import { silentLogger } from '../../src/platform/logger.js';
import { PROJECTIONS } from '../../src/projections/index.js';
import { rebuildProjections } from '../../src/projections/runtime/runner.js';
import type { WorkerHost } from '../../src/workers/worker-host.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually } from '../support/async.js';
import { Receiver } from '../support/webhook-receiver.js';
import { dropTestPrefixes, eventsOf, startTestWorkers, testPrefix } from '../support/workers.js';

/** What an older release stored: data in its shape then, and the version it stamped (none before versions were kept). */
interface StoredEvent {
  type: string;
  data: Record<string, unknown>;
  schemaVersion?: number;
}

/**
 * Every read model's rows, as sorted JSON lines per table: equal snapshots mean equal models. A
 * pipeline stage a batch emptied keeps a row of zero deals or not depending on how the events fell
 * into batches; queries leave those out, and so does this.
 */
async function snapshot(knex: Knex): Promise<Record<string, string[]>> {
  const tables: Record<string, string[]> = {};
  for (const table of PROJECTIONS.flatMap((projection) => projection.tables)) {
    const rows = knex(`read.${table}`).select('*');
    if (table === 'pipeline') rows.where('deals', '>', 0);
    tables[table] = (await rows).map((row) => JSON.stringify(row)).sort();
  }
  return tables;
}

/** The feed's event frames for a query, once `count` have come (the feed never ends by itself). */
async function feedFrames(url: string, key: string, count: number): Promise<{ type: string; event: RecordedEvent & { revision: string } }[]> {
  const req = http.get(url, { headers: { authorization: `Bearer ${key}` } });
  try {
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    expect(res.statusCode).to.equal(200);
    let text = '';
    res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    const frames = () =>
      text.split('\n\n').flatMap((frame) => {
        // Unnamed messages (the default): the type is in the data.
        const data = /^data: (.+)$/m.exec(frame)?.[1];
        const event = data && (JSON.parse(data) as RecordedEvent & { revision: string });
        return event ? [{ type: event.type, event }] : [];
      });
    await eventually(() => frames().length >= count, 10_000, `${count} feed events`);
    return frames();
  } finally {
    req.destroy();
  }
}

describe('evolving events: DealClosed stored in version 1 (`from`), read as version 2 (`fromStage`)', function () {
  this.timeout(60_000);
  let harness: TestApp;
  let keys: Record<string, string>;
  let host: WorkerHost | undefined;
  const receivers: Receiver[] = [];
  /** Lost from diligence, recorded by a release before version 2 (schemaVersion 1). */
  const lostId = randomUUID();
  /** Won from closing, recorded before versions were kept (no schemaVersion at all). */
  const wonId = randomUUID();
  const lost = `deal-${lostId}`;
  const won = `deal-${wonId}`;
  /** The last position written: queries given it wait for the read models to pass it. */
  let latest: Position | undefined;

  const as = (who: string) => ({ authorization: `Bearer ${keys[who]}` });
  const get = (path: string, who = 'audit') => request(harness.app).get(path).set(as(who));
  const post = (path: string, body: object, who = 'ops') => request(harness.app).post(path).set(as(who)).send(body);
  const moveOn = (position: Position) => {
    if (latest === undefined || comparePositions(position, latest) > 0) latest = position;
  };

  /** Appends events as an older release wrote them, chained to the stream's last hash as handleCommand chains. */
  async function appendAsStored(streamId: string, events: StoredEvent[], ids: string[] = events.map(() => randomUUID())): Promise<void> {
    const before = (await eventsOf(harness.store, streamId)).at(-1);
    const minute = String(before ? Number(before.revision) + 1 : 0).padStart(2, '0');
    const chained = chainEvents(
      streamId,
      (before?.metadata.hash as string | undefined) ?? GENESIS_HASH,
      events.map(({ type, data, schemaVersion }, n) => ({
        id: ids[n]!,
        type,
        data,
        metadata: {
          actor: { kind: 'user', id: 'ops' },
          correlationId: `import-${n}`,
          causationId: `import-${n}`,
          occurredAt: `2026-03-01T10:${minute}:0${n}.000Z`,
          ...(schemaVersion === undefined ? {} : { schemaVersion }),
        },
      })) as unknown as (DomainEvent & { id: string })[],
    );
    const result = await harness.store.append(
      streamId,
      chained.map(({ id, type, data, metadata }) => ({ id, type, data: data as JsonObject, metadata: metadata as unknown as JsonObject })),
      { expectedRevision: before ? before.revision : 'no_stream' },
    );
    moveOn(result.position);
  }

  const createdData = (dealId: string, name: string) => ({
    dealId, name, company: `${name} Ltd`, amount: { amount: '500000.00', currency: 'USD' }, ownerId: 'ops', tags: ['legacy'], stage: 'sourcing',
  });

  before(async () => {
    harness = await startTestApp({ projections: true });
    keys = await createKeys(harness.knex, { ops: 'operator', audit: 'auditor', hook: 'integration' });
    await appendAsStored(lost, [
      { type: 'DealCreated', data: createdData(lostId, 'Initech'), schemaVersion: 1 },
      { type: 'DealStageChanged', data: { dealId: lostId, from: 'sourcing', to: 'diligence' }, schemaVersion: 1 },
      { type: 'DealClosed', data: { dealId: lostId, outcome: 'lost', from: 'diligence', reason: 'Budget cut' }, schemaVersion: 1 },
    ]);
    await appendAsStored(won, [
      { type: 'DealCreated', data: createdData(wonId, 'Hooli') },
      { type: 'DealStageChanged', data: { dealId: wonId, from: 'sourcing', to: 'closing' } },
      { type: 'DealClosed', data: { dealId: wonId, outcome: 'won', from: 'closing' } },
    ]);
  });
  after(async () => {
    await host?.stop();
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await harness.close();
    await dropTestPrefixes();
  });

  it('keeps the stored shape, and hash chains that verify over it', async () => {
    const [, , closed] = await eventsOf(harness.store, lost);
    expect(closed!.data).to.deep.equal({ dealId: lostId, outcome: 'lost', from: 'diligence', reason: 'Budget cut' });
    expect(closed!.metadata.schemaVersion).to.equal(1);
    for (const streamId of [lost, won]) {
      expect((await get(`/api/audit/streams/${streamId}/verify`).expect(200)).body, streamId).to.deep.equal({ streamId, events: 3, chained: true, valid: true });
    }
    // A stream's audit history is the record the hashes cover: the stored shape too.
    const history = (await get(`/api/audit/streams/${lost}/events`).expect(200)).body.items;
    expect(history[2].data).to.deep.equal(closed!.data);
  });

  it('projects the current shape: the read models and the recent events (with the old name still answered)', async () => {
    const deal = (await get(`/api/deals/${lostId}?position=${latest}`).expect(200)).body;
    expect(deal).to.deep.include({ stage: 'lost', status: 'lost', lostFrom: 'diligence' });
    expect(deal.stageHistory.map((step: { from: string | null; to: string }) => `${step.from}->${step.to}`)).to.deep.equal(['null->sourcing', 'sourcing->diligence', 'diligence->lost']);
    expect((await get(`/api/deals/${wonId}?position=${latest}`).expect(200)).body).to.deep.include({ stage: 'won', status: 'won' });

    const recent = (await get(`/api/events/recent?type=DealClosed&position=${latest}`).expect(200)).body.items;
    const byDeal = Object.fromEntries(recent.map((item: { dealId: string; data: object }) => [item.dealId, item.data]));
    expect(byDeal[lostId]).to.deep.equal({ dealId: lostId, outcome: 'lost', fromStage: 'diligence', reason: 'Budget cut', from: 'diligence' });
    expect(byDeal[wonId]).to.deep.equal({ dealId: wonId, outcome: 'won', fromStage: 'closing', from: 'closing' });
  });

  it('travels in time over the current shape', async () => {
    const past = (await get(`/api/audit/deals/${lostId}/state?revision=2`).expect(200)).body;
    expect(past.state).to.deep.include({ status: 'lost', stage: 'lost', lostFrom: 'diligence' });
    expect((await get(`/api/audit/deals/${wonId}/state?revision=2`).expect(200)).body.state).to.deep.include({ status: 'won', stage: 'won' });
  });

  it('exports the current shape, saying which events are stored in an older one (their hash covers that)', async () => {
    const stored = [...(await eventsOf(harness.store, lost)), ...(await eventsOf(harness.store, won))];
    const res = await get('/api/audit/export?category=deal').buffer(true).parse((stream, done) => {
      let text = '';
      stream.on('data', (chunk: Buffer) => (text += chunk));
      stream.on('end', () => done(null, text));
    }).expect(200);
    const lines = (res.body as string).split('\n').filter(Boolean).map((line) => JSON.parse(line));
    const line = (event: RecordedEvent) => lines.find((exported) => exported.id === event.id);

    const [lostCreated, , lostClosed] = stored;
    expect(line(lostClosed!)).to.deep.include({
      data: { dealId: lostId, outcome: 'lost', fromStage: 'diligence', reason: 'Budget cut', from: 'diligence' },
      storedSchemaVersion: 1,
    });
    expect(line(lostClosed!).metadata).to.deep.equal({ ...lostClosed!.metadata, schemaVersion: 2 });
    expect(line(lostCreated!)).to.not.have.property('storedSchemaVersion');
    const [wonCreated, , wonClosed] = stored.slice(3);
    expect(line(wonClosed!)).to.deep.include({ data: { dealId: wonId, outcome: 'won', fromStage: 'closing', from: 'closing' }, storedSchemaVersion: 1 });
    // A type never changed: its version is written down, the data left as it is.
    expect(line(wonCreated!)).to.not.have.property('storedSchemaVersion');
    expect(line(wonCreated!).metadata.schemaVersion).to.equal(1);
    expect(line(wonCreated!).data).to.deep.equal(wonCreated!.data);
  });

  it('decides on the current shape: a deal lost in version 1 reopens into the stage it was lost from; closing it again writes version 2', async () => {
    let res = await post(`/api/deals/${lostId}/reopen`, { reason: 'Budget is back' }).expect(200);
    moveOn(res.body.position);
    expect((await get(`/api/deals/${wonId}`).expect(200)).body.status).to.equal('won');
    expect((await post(`/api/deals/${wonId}/reopen`, { reason: 'no' }).expect(409)).body.code).to.equal('DEAL.NOT_LOST');
    res = await post(`/api/deals/${lostId}/stage`, { to: 'lost', reason: 'Budget cut again' }).expect(200);
    moveOn(res.body.position);

    const [, , , reopened, closedAgain] = await eventsOf(harness.store, lost);
    expect(reopened).to.deep.include({ type: 'DealReopened', data: { dealId: lostId, stage: 'diligence', reason: 'Budget is back' } });
    expect(reopened!.metadata.schemaVersion).to.equal(1);
    expect(closedAgain).to.deep.include({ type: 'DealClosed', data: { dealId: lostId, outcome: 'lost', fromStage: 'diligence', reason: 'Budget cut again' } });
    expect(closedAgain!.metadata.schemaVersion).to.equal(2);
    // The new events chain on to the stored ones.
    expect((await get(`/api/audit/streams/${lost}/verify`).expect(200)).body).to.deep.include({ events: 5, valid: true });
    expect((await get(`/api/deals/${lostId}?position=${latest}`).expect(200)).body).to.deep.include({ status: 'lost', lostFrom: 'diligence' });
  });

  it('catches a remembered state up through a version-1 event another process wrote meanwhile, and replays a repeated command in the current shape', async () => {
    const dealId = randomUUID();
    const streamId = `deal-${dealId}`;
    await appendAsStored(streamId, [
      { type: 'DealCreated', data: createdData(dealId, 'Globex'), schemaVersion: 1 },
      { type: 'DealStageChanged', data: { dealId, from: 'sourcing', to: 'negotiation' }, schemaVersion: 1 },
    ]);
    const known = new StreamStates();
    const metadata = { actor: { kind: 'user' as const, id: 'ops' }, now: '2026-03-02T09:00:00.000Z', correlationId: 'c', causationId: 'c' };
    await handleCommand(harness.store, streamId, dealDecider, { type: 'AssignDealOwner', data: { ownerId: 'bo' }, metadata }, { known });
    // A process of the older release loses the deal meanwhile, in version 1.
    await appendAsStored(streamId, [{ type: 'DealClosed', data: { dealId, outcome: 'lost', from: 'negotiation', reason: 'Went quiet' }, schemaVersion: 1 }]);
    // Refused on the remembered (open) state, the command is decided again on the state caught up.
    const reopened = await handleCommand(harness.store, streamId, dealDecider, { type: 'ReopenDeal', data: { reason: 'They called' }, metadata }, { known });
    expect(reopened.events.map((event) => event.data)).to.deep.equal([{ dealId, stage: 'negotiation', reason: 'They called' }]);

    // A command whose derived event id is already stored (in version 1) answers that event again, in the current shape.
    const repeatedId = randomUUID();
    const otherId = randomUUID();
    await appendAsStored(`deal-${otherId}`, [{ type: 'DealCreated', data: createdData(otherId, 'Umbrella'), schemaVersion: 1 }]);
    await appendAsStored(`deal-${otherId}`, [{ type: 'DealClosed', data: { dealId: otherId, outcome: 'lost', from: 'sourcing', reason: 'Gone' }, schemaVersion: 1 }], [repeatedId]);
    const repeated = await handleCommand(harness.store, `deal-${otherId}`, dealDecider, { type: 'ChangeDealStage', data: { to: 'lost', reason: 'Gone' }, metadata }, { eventIdFor: () => repeatedId });
    expect(repeated.events).to.have.length(1);
    expect(repeated.events[0]).to.deep.include({ id: repeatedId, data: { dealId: otherId, outcome: 'lost', fromStage: 'sourcing', reason: 'Gone' } });
    expect(repeated.events[0]!.metadata.schemaVersion).to.equal(2);
    moveOn(reopened.position!);
  });

  it('sends the stored shape and its version on the feed and to webhooks', async () => {
    const server = harness.app.listen(0);
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/integrations/feed?stream=${lost}&type=DealClosed&from=start`;
      const frames = await feedFrames(url, keys.hook!, 2);
      expect(frames.map(({ event }) => [event.revision, event.data, event.metadata.schemaVersion])).to.deep.equal([
        ['2', { dealId: lostId, outcome: 'lost', from: 'diligence', reason: 'Budget cut' }, 1],
        ['4', { dealId: lostId, outcome: 'lost', fromStage: 'diligence', reason: 'Budget cut again' }, 2],
      ]);
    } finally {
      server.closeAllConnections();
      server.close();
    }

    host = await startTestWorkers({ knex: harness.knex, store: harness.store, databaseUrl: harness.db.url, prefix: testPrefix() });
    const to = await new Receiver().open();
    receivers.push(to);
    const created = await post('/api/integrations/webhooks', { url: to.url, filter: { streamIds: [lost, won], eventTypes: ['DealClosed'] }, from: 'start' }, 'hook');
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    to.secret = created.body.secret;
    await eventually(() => to.events.length >= 3, 20_000, 'three DealClosed webhooks');
    expect(to.refused).to.deep.equal([]);
    expect(to.events.map((event) => [event.subject, event.dealstreamrevision, event.data, event.dealstreamschemaversion])).to.have.deep.members([
      [lost, '2', { dealId: lostId, outcome: 'lost', from: 'diligence', reason: 'Budget cut' }, 1],
      [won, '2', { dealId: wonId, outcome: 'won', from: 'closing' }, 1],
      [lost, '4', { dealId: lostId, outcome: 'lost', fromStage: 'diligence', reason: 'Budget cut again' }, 2],
    ]);
  });

  it('rebuilds read models equal to the live ones', async () => {
    await get(`/api/deals/${lostId}?position=${latest}`).expect(200).expect('x-stale', 'false');
    const live = await snapshot(harness.knex);
    const knex = createKnex(harness.db.url, 4);
    try {
      await rebuildProjections(PROJECTIONS, { knex, eventStore: harness.store, logger: silentLogger(), databaseUrl: harness.db.url }, new AbortController().signal);
      const rebuilt = await snapshot(knex);
      for (const table of Object.keys(live)) expect(rebuilt[table], table).to.deep.equal(live[table]);
      expect(Object.keys(rebuilt)).to.deep.equal(Object.keys(live));
    } finally {
      await knex.destroy();
    }
    expect(live.deals!.some((row) => row.includes(`"lost_from":"diligence"`))).to.equal(true);
  });
});
