import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Knex } from 'knex';
import type { EventStore } from '../../src/eventstore/contract.js';
import { createKnex } from '../../src/platform/database.js';
import { silentLogger } from '../../src/platform/logger.js';
import { PROJECTIONS } from '../../src/projections/index.js';
import { activeGeneration } from '../../src/projections/runtime/generations.js';
import { rebuildProjection } from '../../src/projections/runtime/runner.js';
import { projectionStatus } from '../../src/projections/runtime/status.js';
import { eventually, patient } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestEventStore, type TestEventStore } from '../support/event-store.js';
import { spawnDealstream, type DealstreamProcess } from '../support/processes.js';
import { seedLog } from '../support/seed-log.js';

/** Every read model's rows, as sorted JSON lines per table: equal snapshots mean equal models. */
async function snapshot(knex: Knex): Promise<Record<string, string[]>> {
  const tables: Record<string, string[]> = {};
  for (const table of PROJECTIONS.flatMap((projection) => projection.tables)) {
    const rows = await knex(`read.${table}`).select('*');
    tables[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return tables;
}

describe('projector processes: crashes and failover', function () {
  this.timeout(patient(240_000));
  let db: TestDatabase;
  let knex: Knex;
  let testStore: TestEventStore;
  let store: EventStore;
  let env: Record<string, string>;
  const children: DealstreamProcess[] = [];

  beforeEach(async () => {
    db = await createTestDatabase('dealstream_projector');
    knex = createKnex(db.url, 4);
    testStore = await startTestEventStore(db.url);
    store = testStore.store;
    // Small batches: a catch-up spans many transactions for the kills to land between and inside.
    env = { ...testStore.env, DATABASE_URL: db.url, PROJECTION_BATCH_SIZE: '250', LOG_LEVEL: 'info' };
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.child.kill('SIGKILL');
      await child.exit;
    }
    await testStore.close();
    await knex.destroy();
    await db.drop();
  });

  function projector(): DealstreamProcess {
    const child = spawnDealstream(['projector'], env);
    children.push(child);
    return child;
  }
  const status = () => projectionStatus(knex, store, PROJECTIONS);
  /**
   * Every projection has applied the log up to `position`. (Lag alone could read 0 a moment too early:
   * a killed process's transaction, until PostgreSQL notices, holds back what readers may see.) The
   * stored checkpoints come first: the status reads the log after each one for its lag, up to 10,000
   * events a projection, and polled while they caught up it took the CPU their catch-up needed.
   */
  const caughtUpTo = (position: string) => async () =>
    (await Promise.all(PROJECTIONS.map((projection) => activeGeneration(knex, projection.name)))).every((generation) => (generation?.checkpoint ?? '') >= position) &&
    (await status()).every((s) => s.state === 'live' && (s.checkpoint ?? '') >= position);
  /** The projections whose lock the process holds, from PostgreSQL's own view of its sessions. */
  async function locksHeldBy(child: DealstreamProcess, granted = true): Promise<number> {
    const { rows } = await knex.raw(
      `SELECT count(*)::int AS held FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted = ? AND a.application_name LIKE ?`,
      [granted, `dealstream-lock projection:% pid=${child.child.pid}`],
    );
    return rows[0].held as number;
  }

  /** Each projection applied exactly the log's events of its types (counted through the store: either adapter). */
  async function expectEachEventAppliedOnce(): Promise<void> {
    for (const s of await status()) {
      let expected = 0;
      for await (const _ of store.readAll({ filter: { eventTypes: PROJECTIONS.find((p) => p.name === s.name)!.eventTypes } })) expected++;
      expect(s.eventsApplied, `${s.name} applied each event once`).to.equal(expected);
    }
  }

  it('after kill -9 at 10 random instants while catching up, every read model equals a fresh rebuild', async () => {
    const seeded = await seedLog(store, { deals: 1400 });
    expect(seeded.events).to.be.at.least(20_000);
    const caughtUp = caughtUpTo(seeded.lastPosition);

    let killedMidway = 0;
    for (let kill = 0; kill < 10; kill++) {
      const child = projector();
      await eventually(() => child.stderr().includes('projection runner active'), 30_000, 'the projector to start');
      await sleep(Math.random() * 800);
      child.child.kill('SIGKILL');
      await child.exit;
      if (!(await caughtUp())) killedMidway++;
    }
    expect(killedMidway, 'kills that landed before the models caught up').to.be.at.least(3);

    const last = projector();
    await eventually(caughtUp, 120_000, 'the projections to catch up after the crashes');
    last.child.kill('SIGTERM');
    expect(await last.exit).to.equal(0);
    const afterCrashes = await snapshot(knex);
    expect(afterCrashes.deals).to.have.length(1400);

    const deps = { knex, eventStore: store, logger: silentLogger(), databaseUrl: db.url };
    for (const projection of PROJECTIONS) await rebuildProjection(projection, deps, new AbortController().signal);
    expect(await snapshot(knex)).to.deep.equal(afterCrashes);
    await expectEachEventAppliedOnce();
  });

  it('with two projector processes, the standby takes over from the checkpoint when the active one is killed', async () => {
    const first = await seedLog(store, { deals: 100, notesPerDeal: 3 });
    const active = projector();
    await eventually(async () => (await locksHeldBy(active)) === PROJECTIONS.length, 30_000, 'the first projector to hold every lock');
    await eventually(caughtUpTo(first.lastPosition), 60_000, 'catch-up');
    const standby = projector();
    await eventually(async () => (await locksHeldBy(standby, false)) === PROJECTIONS.length, 30_000, 'the second projector to stand by');

    active.child.kill('SIGKILL');
    await active.exit;
    const second = await seedLog(store, { deals: 50, notesPerDeal: 3 });
    await eventually(async () => (await locksHeldBy(standby)) === PROJECTIONS.length, 30_000, 'the standby to take every lock');
    await eventually(caughtUpTo(second.lastPosition), 60_000, 'the standby to catch up');
    const count = await knex('read.deals').count('* as n').first();
    expect(count).to.deep.equal({ n: '150' });
    await expectEachEventAppliedOnce();
  });
});
