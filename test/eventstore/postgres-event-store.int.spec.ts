import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import winston from 'winston';
import Transport from 'winston-transport';
import type { EventToAppend, ExpectedRevision } from '../../src/eventstore/contract.js';
import { appendQuery } from '../../src/eventstore/postgres/append.sql.js';
import { InvalidInputError, WrongExpectedRevisionError } from '../../src/eventstore/errors.js';
import { PostgresEventStore } from '../../src/eventstore/postgres/postgres-event-store.js';
import { prepareEvents } from '../../src/eventstore/validation.js';
import { collect, eventually, rejectionOf } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventStoreContract } from './event-store.contract.js';

/** Runs the store's own append statement in a transaction the test commits when it chooses. */
async function beginAppend(client: pg.PoolClient, streamId: string, expected: ExpectedRevision, events: EventToAppend[]): Promise<void> {
  await client.query('BEGIN');
  const { rows } = await client.query(appendQuery([{ streamId, expected, events: prepareEvents(events, 1024 * 1024) }]));
  if (rows.length === 0) throw new Error(`append to ${streamId} was rejected`);
}

eventStoreContract('PostgreSQL', async () => {
  const db = await createTestDatabase();
  const store = new PostgresEventStore({ connectionString: db.url, maxEventBytes: 1024 * 1024, applicationName: 'contract-store' });
  const admin = new pg.Pool({ connectionString: db.url, max: 8, application_name: 'contract-admin' });
  return {
    store,
    slowAppend: async (streamId, events, expectedRevision, holdMs) => {
      const client = await admin.connect();
      try {
        await beginAppend(client, streamId, expectedRevision, events);
        await client.query('SELECT pg_sleep($1)', [holdMs / 1000]);
        await client.query('COMMIT');
        await client.query(`SELECT pg_notify('dealstream_events', 'test')`);
      } finally {
        client.release();
      }
    },
    dropConnections: async () => {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'contract-store'`);
    },
    teardown: async () => {
      await store.close();
      await admin.end();
      await db.drop();
    },
  };
});

describe('PostgreSQL event store', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  let sql: pg.Pool;

  before(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore({ connectionString: db.url });
    sql = new pg.Pool({ connectionString: db.url, max: 4 });
  });
  after(async () => {
    await store.close();
    await sql.end();
    await db.drop();
  });

  const event = (type: string): EventToAppend => ({ id: randomUUID(), type, data: {} });

  /** Begins a transaction that appends to a stream and stays open until `commit` is called. */
  async function openAppend(streamId: string, expected: ExpectedRevision, events: EventToAppend[]) {
    const client = await sql.connect();
    await beginAppend(client, streamId, expected, events);
    return {
      commit: async () => {
        await client.query('COMMIT');
        client.release();
      },
    };
  }

  it('does not read past a transaction still open, and delivers its events first once it commits', async () => {
    const cat = 'held' + randomUUID().slice(0, 8);
    const subscription = collectLive(store, cat);
    await eventually(() => subscription.caughtUp);

    const early = await openAppend(`${cat}-a`, 'no_stream', [event('Early')]); // takes the smaller transaction id
    await store.append(`${cat}-b`, [event('Late')], { expectedRevision: 'no_stream' }); // commits first

    const visible = await collect(store.readAll({ filter: { categories: [cat] } }));
    expect(visible, 'a reader must wait for the open transaction').to.have.length(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(subscription.types).to.deep.equal([]);

    await early.commit();
    await eventually(() => subscription.types.length === 2);
    subscription.stop();
    expect(subscription.types).to.deep.equal(['Early', 'Late']);
    expect((await collect(store.readAll({ filter: { categories: [cat] } }))).map((e) => e.type)).to.deep.equal(['Early', 'Late']);
  });

  it('names the open transaction that holds subscribers back for too long', async () => {
    const warnings: Record<string, unknown>[] = [];
    const logger = winston.createLogger({
      transports: [new (class extends Transport {
        override log(info: Record<string, unknown>, next: () => void): void {
          if (info.level === 'warn') warnings.push(info);
          next();
        }
      })()],
    });
    const watched = new PostgresEventStore({ connectionString: db.url, blockedWarningMs: 100, logger });
    const cat = 'slow' + randomUUID().slice(0, 8);
    const controller = new AbortController();
    const consuming = collect(watched.subscribe({ from: 'end', filter: { categories: [cat] }, signal: controller.signal }));
    const held = await openAppend(`${cat}-a`, 'no_stream', [event('Held')]);
    await store.append(`${cat}-b`, [event('Waiting')], { expectedRevision: 'no_stream' });
    try {
      await eventually(() => warnings.length > 0, 5000, 'a warning');
      expect(warnings[0]!.message).to.match(/open transaction holds back/);
      // The oldest open in the cluster: the held append, unless another database has an older one open.
      const oldest = warnings[0]!.oldestTransaction as { pid: number; database: string; state: string };
      expect(oldest.pid).to.be.a('number');
      if (oldest.database === db.name) expect(oldest).to.include({ state: 'idle in transaction' });
    } finally {
      await held.commit();
      controller.abort();
      await consuming;
      await watched.close();
    }
  });

  it('serializes writers of one stream so that revision order is log order', async () => {
    const stream = 'order-' + randomUUID();
    await store.append(stream, [event('A')], { expectedRevision: 'no_stream' });
    const first = await openAppend(stream, 'any', [event('B')]);
    const second = store.append(stream, [event('C')], { expectedRevision: 'any' }); // waits for the stream lock
    await new Promise((resolve) => setTimeout(resolve, 50));
    await first.commit();
    await second;
    // A transaction open elsewhere in the cluster may hold the read back for a moment (see the README).
    const log = () => collect(store.readAll({ filter: { streamIds: [stream] } }));
    await eventually(async () => (await log()).length === 3, 5000, 'the three events');
    expect((await log()).map((e) => [e.type, e.revision])).to.deep.equal([['A', 0n], ['B', 1n], ['C', 2n]]);
  });

  it("recognises a retry with 'any' while the batch is among the stream's last 100 events", async () => {
    const stream = 'window-' + randomUUID();
    const batch = [event('A'), event('B')];
    const first = await store.append(stream, batch, { expectedRevision: 'any' });
    await store.append(stream, Array.from({ length: 90 }, () => event('Filler')), { expectedRevision: 'any' });
    expect(await store.append(stream, batch, { expectedRevision: 'any' })).to.deep.equal(first);
    expect(await store.append(stream, batch, { expectedRevision: 'exists' })).to.deep.equal(first);
    expect((await collect(store.readStream(stream))).length).to.equal(92);

    await store.append(stream, Array.from({ length: 20 }, () => event('Filler')), { expectedRevision: 'any' });
    await store.append(stream, batch, { expectedRevision: 'any' }); // out of the window: stored again
    expect((await collect(store.readStream(stream))).length).to.equal(114);
  });

  it('lets concurrent appends with any all land, one after another', async () => {
    const stream = 'race-' + randomUUID();
    await Promise.all(Array.from({ length: 8 }, () => store.append(stream, [event('A'), event('B')], { expectedRevision: 'any' })));
    const read = await collect(store.readStream(stream));
    expect(read.map((e) => e.revision)).to.deep.equal(Array.from({ length: 16 }, (_, i) => BigInt(i)));
  });

  it('fails only the faulty appends of a shared statement', async () => {
    const grouped = new PostgresEventStore({ connectionString: db.url, maxConcurrentAppends: 1 });
    try {
      const cat = 'group' + randomUUID().slice(0, 8);
      const existing = `${cat}-existing`;
      await grouped.append(existing, [event('A')], { expectedRevision: 'no_stream' });
      const stale = { stream: existing, events: [event('B')], expected: 5n as ExpectedRevision };
      const unstorable = { stream: `${cat}-bad`, events: [{ type: 'A', data: { s: 'lone \ud800 surrogate' } }], expected: 'any' as ExpectedRevision };
      const good = Array.from({ length: 10 }, (_, i) => ({ stream: `${cat}-${i}`, events: [event('A'), event('B')], expected: 'no_stream' as ExpectedRevision }));
      const all = [...good.slice(0, 5), stale, unstorable, ...good.slice(5)];
      const outcomes = await Promise.allSettled(all.map((a) => grouped.append(a.stream, a.events, { expectedRevision: a.expected })));

      expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(10);
      expect((outcomes[5] as PromiseRejectedResult).reason).to.be.instanceOf(WrongExpectedRevisionError);
      expect((outcomes[6] as PromiseRejectedResult).reason).to.be.instanceOf(InvalidInputError);
      for (const [i, a] of good.entries()) {
        const read = await collect(grouped.readStream(a.stream));
        expect(read.map((e) => e.revision), `stream ${i}`).to.deep.equal([0n, 1n]);
      }
      expect((await collect(grouped.readStream(existing))).map((e) => e.type)).to.deep.equal(['A']);
    } finally {
      await grouped.close();
    }
  });

  it('keeps stored events append-only', async () => {
    await store.append('locked-' + randomUUID(), [event('A')], { expectedRevision: 'no_stream' });
    expect(await rejectionOf(sql.query(`UPDATE events SET data = '{"x":1}'`))).to.match(/append-only/);
    expect(await rejectionOf(sql.query('DELETE FROM events'))).to.match(/append-only/);
  });
});

/** A live subscription to one category, recording event types. */
function collectLive(store: PostgresEventStore, category: string) {
  const controller = new AbortController();
  const state = { types: [] as string[], caughtUp: false, stop: () => controller.abort() };
  void (async () => {
    for await (const message of store.subscribe({ from: 'end', filter: { categories: [category] }, signal: controller.signal })) {
      if ('kind' in message) state.caughtUp ||= message.caughtUp;
      else state.types.push(message.type);
    }
  })();
  return state;
}
