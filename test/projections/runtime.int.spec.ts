import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Knex } from 'knex';
import type { AppendResult, EventStore, EventToAppend } from '../../src/eventstore/contract.js';
import { createKnex } from '../../src/platform/database.js';
import { silentLogger } from '../../src/platform/logger.js';
import { GenerationWriter } from '../../src/projections/runtime/generation-writer.js';
import { GenerationLostError, activeGeneration, createGeneration, ensureGeneration, readGeneration } from '../../src/projections/runtime/generations.js';
import type { Projection } from '../../src/projections/runtime/projection.js';
import { rebuildProjection, runProjection, type RunnerDependencies } from '../../src/projections/runtime/runner.js';
import { projectionStatus } from '../../src/projections/runtime/status.js';
import { ReadPositions } from '../../src/queries/read-positions.js';
import { collect, eventually, patient } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestEventStore, type TestEventStore } from '../support/event-store.js';

/** Counts 'Counted' events per stream: small enough to check the runtime and nothing else. */
function tally(version = 1, name = 'tally'): Projection {
  return {
    name,
    version,
    eventTypes: ['Counted'],
    tables: [`${name}_rows`],
    async createTables(trx, schema) {
      await trx.raw('CREATE TABLE ??.?? (stream_id text PRIMARY KEY, events int NOT NULL, last_n int NOT NULL)', [schema, `${name}_rows`]);
      await trx.raw('CREATE INDEX ?? ON ??.?? (events)', [`${name}_by_events`, schema, `${name}_rows`]);
    },
    async apply(events, target) {
      const counts = new Map<string, { stream_id: string; events: number; last_n: number }>();
      for (const event of events) {
        const row = counts.get(event.streamId) ?? { stream_id: event.streamId, events: 0, last_n: 0 };
        counts.set(event.streamId, { ...row, events: row.events + 1, last_n: event.data.n as number });
      }
      target.insert(`${name}_rows`, [...counts.values()], { conflict: ['stream_id'], add: ['events'] });
    },
  };
}

describe('projection runtime', function () {
  this.timeout(patient(60_000));
  let db: TestDatabase;
  let knex: Knex;
  let testStore: TestEventStore;
  let store: EventStore;
  let deps: RunnerDependencies;
  const stops: AbortController[] = [];
  const runs: Promise<void>[] = [];

  // Each test has a log of its own: lag and catch-up are about that log alone.
  beforeEach(async () => {
    db = await createTestDatabase('dealstream_runtime');
    knex = createKnex(db.url, 6);
    testStore = await startTestEventStore(db.url);
    store = testStore.store;
    deps = { knex, eventStore: store, logger: silentLogger(), databaseUrl: db.url, batchSize: 500 };
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) stop.abort();
    await Promise.all(runs.splice(0));
    await testStore.close();
    await knex.destroy();
    await db.drop();
  });

  const counted = (n: number): EventToAppend => ({ id: crypto.randomUUID(), type: 'Counted', data: { n }, metadata: {} });
  const other = (): EventToAppend => ({ id: crypto.randomUUID(), type: 'Ignored', data: {}, metadata: {} });
  async function appendCounted(stream: string, count: number, from = 0): Promise<void> {
    for (let start = 0; start < count; start += 1000) {
      const size = Math.min(1000, count - start);
      await store.append(stream, Array.from({ length: size }, (_, i) => counted(from + start + i)), { expectedRevision: 'any' });
    }
  }
  /** Starts a runner once the projection's tables exist (as `migrate` makes them), so tests can read at once. */
  async function start(projection: Projection, options: Partial<RunnerDependencies> = {}): Promise<AbortController> {
    await ensureGeneration(knex, projection);
    const stop = new AbortController();
    stops.push(stop);
    runs.push(runProjection(projection, { ...deps, ...options }, stop.signal));
    return stop;
  }
  const rows = (table: string) => knex(`read.${table}`).orderBy('stream_id');
  const total = async (table: string) => Number((await knex(`read.${table}`).sum('events as total').first())?.total ?? 0);

  it('catches up in batches, goes live, and moves its checkpoint past events it does not read', async () => {
    const projection = tally(1, 'live');
    await appendCounted('live-a', 1200);
    await start(projection);
    await eventually(async () => (await total('live_rows')) === 1200, 20_000, 'catch-up');

    const appended = await store.append('live-b', [counted(1), counted(2)], { expectedRevision: 'no_stream' });
    await eventually(async () => (await total('live_rows')) === 1202, 5000, 'a live update');
    // Passing events of other types is announced at once (for read-your-writes), and stored now and then.
    const positions = new ReadPositions(knex, db.url, silentLogger());
    let ignored: AppendResult;
    try {
      await positions.start();
      ignored = await store.append('live-c', [other()], { expectedRevision: 'no_stream' });
      expect(await positions.waitFor(['live'], ignored.position, 5000), 'announced').to.equal(true);
    } finally {
      await positions.close(); // also when the expectation fails: its listener would hold the database open
    }
    await sleep(1100);
    const later = await store.append('live-d', [other()], { expectedRevision: 'no_stream' });
    await eventually(async () => ((await activeGeneration(knex, 'live'))?.checkpoint ?? '') >= later.position, 5000, 'the checkpoint to be stored');
    expect(appended.position < ignored.position).to.equal(true);
    expect(await rows('live_rows')).to.deep.equal([
      { stream_id: 'live-a', events: 1200, last_n: 1199 },
      { stream_id: 'live-b', events: 2, last_n: 2 },
    ]);
  });

  it('lets a query wait for its own write through the checkpoint notifications', async () => {
    const projection = tally(1, 'ryw');
    await ensureGeneration(knex, projection);
    const positions = new ReadPositions(knex, db.url, silentLogger());
    try {
      const { position } = await store.append('ryw-a', [counted(1)], { expectedRevision: 'no_stream' });
      expect(await positions.waitFor(['ryw'], position, 100), 'nobody projects yet').to.equal(false);
      await start(projection);
      expect(await positions.waitFor(['ryw'], position, 5000)).to.equal(true);
      expect(await total('ryw_rows')).to.equal(1);
      for (let i = 0; i < 20; i++) {
        const next = await store.append('ryw-a', [counted(i)], { expectedRevision: 'any' });
        expect(await positions.waitFor(['ryw'], next.position, 5000)).to.equal(true);
        expect(await total('ryw_rows')).to.equal(i + 2);
      }
    } finally {
      await positions.close();
    }
  });

  it('runs one runner per projection; a standby takes over from the checkpoint when the active one stops', async () => {
    const projection = tally(1, 'standby');
    await appendCounted('standby-a', 500);
    const first = await start(projection);
    await eventually(async () => (await total('standby_rows')) === 500, 10_000, 'the first runner');
    await start(projection);
    await appendCounted('standby-a', 300, 500);
    await eventually(async () => (await total('standby_rows')) === 800, 10_000, 'live updates');
    const applied = Number((await knex('projection_generations').where('projection', 'standby').first('events_applied')).events_applied);
    expect(applied, 'every event applied once').to.equal(800);

    first.abort();
    await appendCounted('standby-a', 200, 800);
    await eventually(async () => (await total('standby_rows')) === 1000, 10_000, 'the standby to take over');
    expect(await rows('standby_rows')).to.deep.equal([{ stream_id: 'standby-a', events: 1000, last_n: 999 }]);
  });

  it('rebuilds into fresh tables while queries keep reading the old ones, then swaps atomically', async () => {
    const projection = tally(1, 'swap');
    const streams = Array.from({ length: 40 }, (_, i) => `swap-${String(i).padStart(2, '0')}`);
    for (const stream of streams) await appendCounted(stream, 100);
    await start(projection);
    await eventually(async () => (await total('swap_rows')) === 4000, 20_000, 'catch-up');
    const before = await activeGeneration(knex, 'swap');

    // Readers during the rebuild: every answer is the whole model, never a half-built one.
    const seen = new Set<number>();
    let reading = true;
    const readers = Array.from({ length: 2 }, async () => {
      while (reading) seen.add(await total('swap_rows'));
    });
    const rebuilt = await rebuildProjection(projection, { ...deps, batchSize: 100 }, new AbortController().signal);
    reading = false;
    await Promise.all(readers);

    expect([...seen]).to.deep.equal([4000]);
    expect(rebuilt.schema).to.not.equal(before!.schema);
    expect((await activeGeneration(knex, 'swap'))!.schema).to.equal(rebuilt.schema);
    expect(await readGeneration(knex, before!.schema), 'the old generation is dropped').to.equal(undefined);
    // Secondary indexes are built in bulk once the rebuild has caught up, before the swap.
    const indexes = await knex('pg_indexes').where('schemaname', rebuilt.schema).orderBy('indexname').pluck('indexname');
    expect(indexes).to.deep.equal(['swap_by_events', 'swap_rows_pkey']);
    const oldSchema = await knex.raw('SELECT 1 FROM information_schema.schemata WHERE schema_name = ?', [before!.schema]);
    expect(oldSchema.rows).to.have.length(0);

    // The live runner notices the swap and keeps the new generation current.
    await appendCounted('swap-00', 5, 100);
    await eventually(async () => (await total('swap_rows')) === 4005, 10_000, 'the live runner to follow the new generation');
  });

  it('rebuilds a projection whose version changed before it goes live', async () => {
    await appendCounted('version-a', 300);
    const v1 = await start(tally(1, 'version'));
    await eventually(async () => (await total('version_rows')) === 300, 10_000, 'v1');
    v1.abort();
    await Promise.all(runs.splice(0));
    const old = await activeGeneration(knex, 'version');

    await start(tally(2, 'version'));
    await eventually(async () => (await activeGeneration(knex, 'version'))?.version === 2, 10_000, 'the v2 generation');
    expect((await activeGeneration(knex, 'version'))!.schema).to.not.equal(old!.schema);
    expect(await total('version_rows')).to.equal(300);
    const [status] = await projectionStatus(knex, store, [tally(2, 'version')]);
    expect(status).to.deep.include({ name: 'version', state: 'live', version: 2, codeVersion: 2, rebuild: null });
    expect(status!.lag).to.deep.equal({ events: 0, atLeast: false, seconds: 0 });
  });

  it('rebuilds one projection again and again on the same connections', async () => {
    // One connection: each rebuild's statements (another schema each time) meet the prepared statements of the one before.
    const single = createKnex(db.url, 1);
    try {
      const projection = tally(1, 'again');
      await ensureGeneration(single, projection);
      await appendCounted('again-a', 50);
      for (let i = 0; i < 3; i++) await rebuildProjection(projection, { ...deps, knex: single, batchSize: 20 }, new AbortController().signal);
      expect(await rows('again_rows')).to.deep.equal([{ stream_id: 'again-a', events: 50, last_n: 49 }]);
    } finally {
      await single.destroy();
    }
  });

  it('reports lag and a stopped runner in the status', async () => {
    const projection = tally(1, 'lagging');
    await ensureGeneration(knex, projection);
    await appendCounted('lagging-a', 25);
    // The log is read below the oldest open transaction in the cluster: another test's may hide the tail a moment.
    await eventually(async () => (await projectionStatus(knex, store, [projection]))[0]!.lag.events === 25, 5000, 'a lag of 25 events');
    const [status] = await projectionStatus(knex, store, [projection]);
    expect(status).to.deep.include({ state: 'stopped', checkpoint: null, eventsApplied: 0 });
    expect(status!.lag.seconds).to.be.at.least(0);
  });

  it('drops the generation of a rebuild that died, and shows it abandoned until then', async () => {
    const projection = tally(1, 'orphan');
    await ensureGeneration(knex, projection);
    await appendCounted('orphan-a', 10);
    const orphan = await createGeneration(knex, projection); // as a killed `projections rebuild` leaves it
    const [status] = await projectionStatus(knex, store, [projection]);
    expect(status!.state).to.equal('stopped');
    expect(status!.rebuild).to.deep.include({ schema: orphan.schema, abandoned: true });

    const rebuilt = await rebuildProjection(projection, deps, new AbortController().signal);
    expect(await readGeneration(knex, orphan.schema)).to.equal(undefined);
    expect((await knex.raw('SELECT 1 FROM information_schema.schemata WHERE schema_name = ?', [orphan.schema])).rows).to.have.length(0);
    expect((await activeGeneration(knex, 'orphan'))!.schema).to.equal(rebuilt.schema);
    expect(await total('orphan_rows')).to.equal(10);
  });

  it('writes a batch with its checkpoint only where the checkpoint is where the writer left it', async () => {
    const projection = tally(1, 'cas');
    const generation = await ensureGeneration(knex, projection);
    const [a, b] = [new GenerationWriter(knex, projection, generation), new GenerationWriter(knex, projection, generation)];
    const { position } = await store.append('cas-a', [counted(1)], { expectedRevision: 'no_stream' });
    const [event] = await collect(store.readStream('cas-a'));
    await a.write([event!], position);
    // b still holds the checkpoint it started from: another runner moved it since.
    const { position: next } = await store.append('cas-a', [counted(2)], { expectedRevision: 0n });
    const error = await b.write([event!], next).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(GenerationLostError);
    expect(await rows('cas_rows')).to.deep.equal([{ stream_id: 'cas-a', events: 1, last_n: 1 }]);
    expect((await readGeneration(knex, generation.schema))!.checkpoint).to.equal(position);
  });

  it('applies a batch while the statement of the one before runs, on the rows that batch left', async () => {
    // Counts in JavaScript on the rows it loads: a batch that missed the one before would count wrong.
    const counter: Projection = {
      ...tally(1, 'ahead'),
      async apply(events, target) {
        const rows = target.rows<{ stream_id: string; events: number; last_n: number }>('ahead_rows', 'stream_id');
        await rows.load(events.map((event) => event.streamId));
        for (const event of events) {
          const row = rows.get(event.streamId) ?? { stream_id: event.streamId, events: 0, last_n: 0 };
          rows.set({ ...row, events: row.events + 1, last_n: event.data.n as number });
        }
      },
    };
    const generation = await ensureGeneration(knex, counter);
    await appendCounted('ahead-a', 6);
    const events = await collect(store.readStream('ahead-a'));
    const writer = new GenerationWriter(knex, counter, generation);
    const first = await writer.prepare(events.slice(0, 3), events[2]!.position);
    const second = await writer.prepare(events.slice(3), events[5]!.position); // the first has not been sent yet
    await Promise.all([writer.commit(first), writer.commit(second)]);
    expect(await rows('ahead_rows')).to.deep.equal([{ stream_id: 'ahead-a', events: 6, last_n: 5 }]);

    // A statement that fails fails the ones prepared after it, and the writer refuses to go on.
    const stale = new GenerationWriter(knex, counter, generation); // its checkpoint is long gone
    const lost = await stale.prepare(events.slice(0, 1), events[0]!.position);
    const after = await stale.prepare(events.slice(1, 2), events[1]!.position);
    const results = await Promise.allSettled([stale.commit(lost), stale.commit(after)]);
    expect(results.map((result) => result.status)).to.deep.equal(['rejected', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).to.be.instanceOf(GenerationLostError);
    expect(await stale.prepare([], events[5]!.position).catch((error: unknown) => error)).to.be.instanceOf(GenerationLostError);
    expect(await rows('ahead_rows')).to.deep.equal([{ stream_id: 'ahead-a', events: 6, last_n: 5 }]);
  });

  it('keeps model and checkpoint together when a batch fails, and resumes from the checkpoint', async () => {
    const projection = tally(1, 'poison');
    let failNext = true;
    const flaky: Projection = {
      ...projection,
      async apply(events, target) {
        await projection.apply(events, target);
        if (failNext && events.some((event) => event.data.n === 150)) {
          failNext = false;
          // A write PostgreSQL accepts and one it refuses (events is NOT NULL): the batch's statement fails whole.
          target.insert('poison_rows', [{ stream_id: 'half-written', events: 1, last_n: 0 }]);
          target.insert('poison_rows', [{ stream_id: 'refused', events: null, last_n: 0 }]);
        }
      },
    };
    await appendCounted('poison-a', 300);
    await start(flaky, { batchSize: 100 });
    await eventually(async () => (await total('poison_rows')) === 300, 15_000, 'recovery');
    expect(await rows('poison_rows')).to.deep.equal([{ stream_id: 'poison-a', events: 300, last_n: 299 }]);
  });
});
