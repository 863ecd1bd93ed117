import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import winston from 'winston';
import Transport from 'winston-transport';
import { EventStoreDBClient, binaryEvent } from '@eventstore/db-client';
import { isCheckpoint, type EventToAppend, type Position, type RecordedEvent } from '../../src/eventstore/contract.js';
import { EventStoreUnavailableError, InvalidInputError, StreamNotFoundError } from '../../src/eventstore/errors.js';
import { APPEND_ATTEMPTS, EventStoreDBEventStore } from '../../src/eventstore/eventstoredb/eventstoredb-event-store.js';
import { fromToken } from '../../src/eventstore/eventstoredb/positions.js';
import { comparePositions } from '../../src/eventstore/position.js';
import { startEsdbDouble, type EsdbDouble } from '../esdb-double/index.js';
import { collect, eventually, rejectionOf, patient } from '../support/async.js';
import { eventStoreContract } from './event-store.contract.js';

eventStoreContract('EventStoreDB (protocol double)', async () => {
  const double = await startEsdbDouble();
  const store = new EventStoreDBEventStore({ connectionString: double.connectionString });
  return {
    store,
    // EventStoreDB has no transactions a test could hold open: slowAppend stays unset.
    dropConnections: async () => double.dropSubscriptions(),
    teardown: async () => {
      await store.close();
      await double.close();
    },
  };
});

const EVENTSTORE_URL = process.env.EVENTSTORE_URL;
if (EVENTSTORE_URL) {
  eventStoreContract(`EventStoreDB (${EVENTSTORE_URL})`, async () => {
    const store = new EventStoreDBEventStore({ connectionString: EVENTSTORE_URL });
    return { store, teardown: () => store.close() };
  });
} else {
  describe('event store contract: EventStoreDB (real server)', () => {
    it('SKIPPED: EVENTSTORE_URL is not set (for example EVENTSTORE_URL="esdb://localhost:2113?tls=false")');
  });
}

describe('EventStoreDB event store (over the protocol double)', () => {
  let double: EsdbDouble;
  let store: EventStoreDBEventStore;

  before(async () => {
    double = await startEsdbDouble();
    store = new EventStoreDBEventStore({ connectionString: double.connectionString });
  });
  after(async () => {
    await store?.close();
    await double?.close();
  });

  const event = (type: string, data: EventToAppend['data'] = {}): EventToAppend => ({ id: randomUUID(), type, data });
  const numbered = (from: number, count: number) => Array.from({ length: count }, (_, i) => event('Counted', { n: from + i }));
  const halves = (token: Position) => fromToken(token, 'position') as { commit: bigint; prepare: bigint };

  it('leaves out of a subscription an event another writer stored as binary, with a warning, without resubscribing', async () => {
    // A double of its own: the other tests read the whole log, which now fails on that event.
    const own = await startEsdbDouble();
    const category = 'foreign' + randomUUID().slice(0, 8);
    const raw = EventStoreDBClient.connectionString(own.connectionString);
    try {
      await raw.appendToStream(`${category}-a`, binaryEvent({ type: 'Opaque', data: new Uint8Array([1, 2, 3]) }));
    } finally {
      await raw.dispose();
    }
    const warnings: string[] = [];
    const logger = winston.createLogger({
      transports: [new (class extends Transport {
        override log(info: { level: string; message: string }, next: () => void): void {
          if (info.level === 'warn') warnings.push(info.message);
          next();
        }
      })()],
    });
    const watched = new EventStoreDBEventStore({ connectionString: own.connectionString, logger });
    const controller = new AbortController();
    const seen: string[] = [];
    try {
      const ours = await watched.append(`${category}-b`, [event('Ours')], { expectedRevision: 'no_stream' });
      for await (const message of watched.subscribe({ filter: { categories: [category] }, signal: controller.signal })) {
        if (!isCheckpoint(message)) seen.push(message.type);
        if (isCheckpoint(message) && comparePositions(message.position, ours.position) >= 0) controller.abort();
      }
    } finally {
      await watched.close();
      await own.close();
    }
    expect(seen).to.deep.equal(['Ours']);
    expect(warnings).to.deep.equal(['EventStoreDB subscription left out an event it cannot read']);
  });

  it("keeps both halves of the server's positions in tokens, and answers an append with its last event's", async () => {
    const stream = 'pos-' + randomUUID();
    const result = await store.append(stream, [event('A'), event('B')], { expectedRevision: 'no_stream' });
    const [first, second] = await collect(store.readStream(stream));
    expect(result.position).to.equal(second!.position);
    const client = EventStoreDBClient.connectionString(double.connectionString);
    try {
      const raw = await collect(client.readStream(stream));
      expect([first!.position, second!.position].map(halves)).to.deep.equal(raw.map((e) => e.event!.position));
    } finally {
      await client.dispose();
    }
  });

  it('refuses a connection string that turns throwOnAppendFailure off, naming it', () => {
    expect(() => new EventStoreDBEventStore({ connectionString: `${double.connectionString}&throwOnAppendFailure=false` }))
      .to.throw(InvalidInputError, /throwOnAppendFailure=false/);
  });

  it('resumes from a catch-up checkpoint (c, 0) with the event appended next, at (c, c)', async () => {
    const category = 'resume' + randomUUID().slice(0, 8);
    await store.append(`${category}-1`, [event('First')], { expectedRevision: 'no_stream' });
    const subscribeFrom = (from: Position | 'start') => {
      const controller = new AbortController();
      const seen: { events: RecordedEvent[]; checkpoints: { position: Position; caughtUp: boolean }[] } = { events: [], checkpoints: [] };
      const running = (async () => {
        for await (const message of store.subscribe({ from, filter: { categories: [category] }, signal: controller.signal })) {
          if (isCheckpoint(message)) seen.checkpoints.push(message);
          else seen.events.push(message);
        }
      })();
      return { seen, stop: () => (controller.abort(), running) };
    };
    const first = subscribeFrom('start');
    await eventually(() => first.seen.checkpoints.some((c) => c.caughtUp), 10_000, 'the subscription to catch up');
    await first.stop();
    const checkpoint = first.seen.checkpoints.at(-1)!.position;
    const { commit } = halves(checkpoint);
    expect(halves(checkpoint)).to.deep.equal({ commit, prepare: 0n }); // the end of the server's read

    const next = await store.append(`${category}-2`, [event('Next')], { expectedRevision: 'no_stream' });
    expect(halves(next.position)).to.deep.equal({ commit, prepare: commit });
    const resumed = subscribeFrom(checkpoint);
    await eventually(() => resumed.seen.events.length > 0, 10_000, 'the next event');
    await resumed.stop();
    expect(resumed.seen.events.map((e) => e.type)).to.deep.equal(['Next']);
  });

  it('checkpoints a live filtered subscription past an event it leaves out, at once', async () => {
    // The server would checkpoint only after 1000 events; read-your-writes cannot wait that long.
    const category = 'skip' + randomUUID().slice(0, 8);
    const controller = new AbortController();
    const checkpoints: { position: Position; caughtUp: boolean }[] = [];
    const running = (async () => {
      for await (const message of store.subscribe({ from: 'end', filter: { categories: [category], eventTypes: ['Wanted'] }, signal: controller.signal })) {
        if (isCheckpoint(message)) checkpoints.push(message);
      }
    })();
    await eventually(() => checkpoints.some((c) => c.caughtUp), 10_000, 'the subscription to catch up');
    const skipped = await store.append(`${category}-1`, [event('Unwanted')], { expectedRevision: 'no_stream' });
    await eventually(() => checkpoints.some((c) => c.caughtUp && comparePositions(c.position, skipped.position) >= 0), 5000, 'a checkpoint past it');
    controller.abort();
    await running;
  });

  it('leaves no gRPC call open after reads left early, so close() returns', async () => {
    // Over a link that delivers the server's writes apart, a call often ends after its reader has left.
    const link = await slowLink(double.connectionString);
    const own = new EventStoreDBEventStore({ connectionString: link.connectionString });
    try {
      const stream = 'early-' + randomUUID();
      await own.append(stream, numbered(0, 3), { expectedRevision: 'no_stream' });
      for (let i = 0; i < 20; i++) {
        for await (const _ of own.readStream(stream, { maxCount: 1 })) break;
      }
      for await (const _ of own.readAll({ maxCount: 3 })) break;
      const controller = new AbortController();
      for await (const message of own.subscribe({ filter: { streamIds: [stream] }, signal: controller.signal })) {
        if (!isCheckpoint(message)) controller.abort();
      }
      const closed = await Promise.race([own.close().then(() => true), sleep(3000, false)]);
      expect(closed, 'close() returned').to.equal(true);
    } finally {
      link.close();
    }
  });

  it('tries a refused append again, and stores it once', async () => {
    const stream = 'refused-' + randomUUID();
    double.refuseAppends(APPEND_ATTEMPTS - 1);
    const result = await store.append(stream, [event('A')], { expectedRevision: 'no_stream' });
    expect(result.nextRevision).to.equal(0n);
    expect((await collect(store.readStream(stream))).map((e) => e.type)).to.deep.equal(['A']);
  });

  it('reports an append the server keeps refusing, naming the stream, and stores nothing', async () => {
    const stream = 'refused-' + randomUUID();
    double.refuseAppends(APPEND_ATTEMPTS);
    const error = await rejectionOf(store.append(stream, [event('A')], { expectedRevision: 'no_stream' }));
    expect(error).to.be.instanceOf(EventStoreUnavailableError).and.include({ streamId: stream, code: 'EVENT_STORE.UNAVAILABLE' });
    expect((error as Error).message).to.include(stream).and.include(`${APPEND_ATTEMPTS} attempts`);
    expect(await rejectionOf(collect(store.readStream(stream)))).to.be.instanceOf(StreamNotFoundError);
    // The server is back: the same append now lands.
    await store.append(stream, [event('A')], { expectedRevision: 'no_stream' });
  });

  it('resubscribes after the server drops its subscriptions, in catch-up and live, with no gap and no duplicate', async function () {
    this.timeout(patient(60_000));
    const category = 'drop' + randomUUID().slice(0, 8);
    const stream = `${category}-1`;
    await store.append(stream, numbered(0, 3000), { expectedRevision: 'no_stream' });

    const controller = new AbortController();
    const events: RecordedEvent[] = [];
    const checkpoints: { position: Position; caughtUp: boolean }[] = [];
    const running = (async () => {
      for await (const message of store.subscribe({ from: 'start', filter: { categories: [category] }, signal: controller.signal })) {
        if (isCheckpoint(message)) checkpoints.push(message);
        else events.push(message);
      }
    })();

    await eventually(() => events.length > 0, 10_000, 'the first events');
    double.dropSubscriptions(); // while catching up
    await eventually(() => checkpoints.some((c) => c.caughtUp), 20_000, 'the subscription to catch up');
    double.dropSubscriptions(); // live, with nothing new
    await store.append(stream, numbered(3000, 100), { expectedRevision: 2999n });
    await eventually(() => events.length >= 3100, 10_000, '3100 events');
    double.dropSubscriptions(); // live, right after events
    await store.append(stream, numbered(3100, 100), { expectedRevision: 3099n });
    await eventually(() => events.length >= 3200, 10_000, '3200 events');
    controller.abort();
    await running;

    expect(events.map((e) => e.data.n)).to.deep.equal(Array.from({ length: 3200 }, (_, i) => i));
    const positions = checkpoints.map((c) => c.position);
    expect(positions.every((p, i) => i === 0 || comparePositions(positions[i - 1]!, p) <= 0)).to.equal(true);
  });

  it("resubscribes from where 'end' was when the subscription started, not from the end again", async () => {
    const category = 'end' + randomUUID().slice(0, 8);
    await store.append(`${category}-0`, [event('Before')], { expectedRevision: 'no_stream' });
    const controller = new AbortController();
    const events: RecordedEvent[] = [];
    let caughtUp = false;
    const running = (async () => {
      for await (const message of store.subscribe({ from: 'end', filter: { categories: [category] }, signal: controller.signal })) {
        if (isCheckpoint(message)) caughtUp ||= message.caughtUp;
        else events.push(message);
      }
    })();
    await eventually(() => caughtUp, 10_000, 'the subscription to catch up');
    double.dropSubscriptions();
    // Appended while the subscription is down: resubscribing from the end would miss it.
    await store.append(`${category}-1`, [event('During')], { expectedRevision: 'no_stream' });
    await store.append(`${category}-2`, [event('After')], { expectedRevision: 'no_stream' });
    await eventually(() => events.length >= 2, 10_000, 'both events');
    controller.abort();
    await running;
    expect(events.map((e) => e.type)).to.deep.equal(['During', 'After']);
  });
});

/** A TCP relay to the server that forwards each chunk it sends a moment later, one at a time. */
async function slowLink(connectionString: string): Promise<{ connectionString: string; close(): void }> {
  const target = new URL(connectionString.replace(/^esdb:/, 'http:'));
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const server = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(server);
    let forwarding = Promise.resolve();
    client.pipe(server);
    server.on('data', (chunk) => (forwarding = forwarding.then(() => sleep(2)).then(() => void client.write(chunk))));
    for (const [socket, other] of [[client, server], [server, client]] as const) {
      socket.on('error', () => undefined);
      socket.on('close', () => other.destroy());
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const { port } = relay.address() as net.AddressInfo;
  return {
    connectionString: `esdb://127.0.0.1:${port}?tls=false`,
    close: () => {
      relay.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
