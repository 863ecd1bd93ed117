import { Authenticator } from '../../src/auth/authenticator.js';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { EventSource } from 'eventsource';
import express, { type Express, type RequestHandler } from 'express';
import request from 'supertest';
import type { EventStore, RecordedEvent, SubscriptionMessage } from '../../src/eventstore/contract.js';
import { comparePositions } from '../../src/eventstore/position.js';
import { matchesFilter } from '../../src/eventstore/filter.js';
import { authenticate } from '../../src/http/auth.js';
import { problemHandler } from '../../src/http/problem.js';
import { beginShutdown } from '../../src/http/shutdown.js';
import { EVENT_TYPES } from '../../src/integrations/event-types.js';
import { integrationFeed, type FeedOptions } from '../../src/integrations/feed.js';
import { silentLogger } from '../../src/platform/logger.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { collect, eventually, patient } from '../support/async.js';
import { payloadOf } from '../support/action-payloads.js';

const PATH = '/api/integrations/feed';

interface Received {
  id: string;
  /** The SSE event name: `message` unless the feed names its events. */
  name: string;
  event: { id: string; streamId: string; type: string; revision: string; position: string; data: unknown; metadata: unknown; recordedAt: string };
}

/** An app listening on a port of its own: EventSource and raw sockets need one. */
interface Listening {
  url: string;
  server: http.Server;
  close(): void;
}

async function listen(app: Express): Promise<Listening> {
  const server = app.listen(0);
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${PATH}`,
    server,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The store, counting the messages the feed pulls from its subscriptions and the subscriptions open. */
function counting(store: EventStore) {
  const counted = {
    pulled: 0,
    open: 0,
    append: store.append.bind(store),
    readStream: store.readStream.bind(store),
    readAll: store.readAll.bind(store),
    close: store.close.bind(store),
    findEvent: store.findEvent.bind(store),
    readSnapshot: store.readSnapshot.bind(store),
    writeSnapshot: store.writeSnapshot.bind(store),
    async *subscribe(options?: Parameters<EventStore['subscribe']>[0]): AsyncGenerator<SubscriptionMessage> {
      counted.open++;
      try {
        for await (const message of store.subscribe(options)) {
          counted.pulled++;
          yield message;
        }
      } finally {
        counted.open--;
      }
    },
  } satisfies EventStore & { pulled: number; open: number };
  return counted;
}

/**
 * A real SSE client: EventSource with the API key in each (re)connection's headers. A plain one
 * listens with `onmessage` only; a `named` one with a listener per event type (for `?events=named`),
 * counting what still reaches its `onmessage` in `unnamed`.
 */
class FeedClient {
  readonly received: Received[] = [];
  unnamed = 0;
  opened = 0;
  private readonly source: EventSource;

  constructor(url: string, key: string, lastEventId?: string, listen: 'onmessage' | 'named' = 'onmessage') {
    this.source = new EventSource(url, {
      // On its own reconnections EventSource sends the id it last saw, under this same name.
      fetch: (input, init) => fetch(input, { ...init, headers: { ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}), ...init.headers, authorization: `Bearer ${key}` } }),
    });
    this.source.addEventListener('open', () => this.opened++);
    const receive = (message: MessageEvent) => this.received.push({ id: message.lastEventId, name: message.type, event: JSON.parse(message.data) });
    if (listen === 'onmessage') {
      this.source.onmessage = receive;
      return;
    }
    for (const type of EVENT_TYPES.keys()) this.source.addEventListener(type, receive);
    this.source.onmessage = () => this.unnamed++;
  }

  get types(): string[] {
    return this.received.map((item) => item.event.type);
  }

  get ids(): string[] {
    return this.received.map((item) => item.id);
  }

  async receives(count: number): Promise<void> {
    await eventually(() => this.received.length >= count, 10_000, `${count} events (have ${this.received.length})`);
  }

  close(): void {
    this.source.close();
  }
}

/** A raw HTTP client on the feed, keeping the text as it arrives. */
async function rawFeed(url: string, key: string): Promise<{ res: http.IncomingMessage; text: () => string; close(): void }> {
  const req = http.get(url, { headers: { authorization: `Bearer ${key}` } });
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  let text = '';
  res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return { res, text: () => text, close: () => req.destroy() };
}

describe('integration feed: GET /api/integrations/feed', () => {
  let harness: TestApp;
  let app: Listening;
  let keys: Record<string, string>;
  /** The position of the last command. */
  let latest = '';
  const cleanups: (() => void)[] = [];

  /** Sends a command as one of the keys, failing the test unless it succeeds; resolves with the id of what it created. */
  async function command(path: string, body: object, who: string): Promise<string | undefined> {
    const res = await request(harness.app).post(path).set({ authorization: `Bearer ${keys[who]}` }).send(body);
    expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
    latest = res.body.position;
    return res.headers.location?.split('/').pop();
  }

  async function newDeal(name: string): Promise<string> {
    return (await command('/api/deals', { name, company: `${name} Ltd`, amount: { amount: '100', currency: 'USD' } }, 'ops'))!;
  }
  /** Where the log ends: the tests write through commands (the last one starts here), so a feed from here sees only what comes next. */
  const head = () => latest || 'start';
  /**
   * The log after `from` up to the last command. Readers wait for transactions open anywhere in the
   * cluster (DESIGN.md), so a read right after a command may end before it: read until it is there.
   */
  async function logAfter(from: string): Promise<RecordedEvent[]> {
    let log: RecordedEvent[] = [];
    const complete = async () => {
      log = await collect(harness.store.readAll(from === 'start' ? {} : { from }));
      return comparePositions(log.at(-1)?.position ?? '', latest) >= 0; // '' before any command
    };
    await eventually(complete, 10_000, 'the log to hold the last command');
    return log;
  }
  function client(url: string, key = keys.int!, lastEventId?: string, listen?: 'onmessage' | 'named'): FeedClient {
    const feed = new FeedClient(url, key, lastEventId, listen);
    cleanups.push(() => feed.close());
    return feed;
  }
  /** The feed on an app of its own, with options and the store counted; `before` runs ahead of it. */
  async function feedApp(options: Partial<FeedOptions> = {}, ...before: RequestHandler[]) {
    const store = counting(harness.store);
    const logger = silentLogger();
    const feed = express()
      .use('/api', authenticate(new Authenticator({ knex: harness.knex, cacheMs: 0 })), ...before, integrationFeed({ eventStore: store, logger, ...options }))
      .use(problemHandler(logger));
    const listening = await listen(feed);
    cleanups.push(listening.close);
    return { ...listening, store, app: feed };
  }

  before(async () => {
    harness = await startTestApp();
    keys = await createKeys(harness.knex, { ops: 'operator', scout: 'agent', int: 'integration', root: 'admin' });
    app = await listen(harness.app);
  });
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });
  after(async () => {
    app.close();
    await harness.close();
  });

  it('sends each event that commands append, in order, with its position as id and its envelope as data', async () => {
    const from = head();
    const feed = client(`${app.url}?from=${from}`);
    const dealId = await newDeal('Acme');
    await command(`/api/deals/${dealId}/stage`, { to: 'screening' }, 'ops');
    await command(`/api/deals/${dealId}/notes`, { text: 'call them' }, 'ops');

    const log = await logAfter(from);
    await feed.receives(log.length);
    expect(feed.types).to.deep.equal(['DealCreated', 'DealStageChanged', 'DealNoteAdded']);
    expect(feed.received.map((item) => item.name), 'unnamed: every message reaches onmessage').to.deep.equal(['message', 'message', 'message']);
    expect(feed.ids).to.deep.equal(log.map((event) => event.position));
    const created = log[0]!;
    expect(feed.received[0]!.event).to.deep.equal({
      id: created.id,
      streamId: `deal-${dealId}`,
      type: 'DealCreated',
      revision: '0',
      position: created.position,
      data: created.data,
      metadata: created.metadata,
      recordedAt: created.recordedAt.toISOString(),
    });
  });

  it('starts at the end when given no position: only what comes next', async () => {
    const feed = await feedApp();
    await logAfter('start'); // 'end' may start below a transaction open in the cluster: let them pass the earlier events
    const live = client(`${feed.url}?type=DealCreated`);
    await eventually(() => feed.store.pulled > 0, 10_000, 'the subscription to start'); // its first checkpoint
    await newDeal('Later');
    await live.receives(1);
    expect(live.received.map((item) => (item.event.data as { name: string }).name)).to.deep.equal(['Later']);
  });

  it('keeps only the categories, types and streams asked for', async () => {
    const from = head();
    const acme = await newDeal('Acme');
    const beta = await newDeal('Beta');
    await command(`/api/deals/${acme}/stage`, { to: 'screening' }, 'ops');
    await command(`/api/deals/${beta}/notes`, { text: 'call them' }, 'ops');
    await command('/api/actions', { dealId: acme, kind: 'send_email', title: 'Send the NDA', payload: payloadOf('send_email') }, 'scout');
    await command(`/api/deals/${acme}/notes`, { text: 'sent' }, 'ops');
    const log = await logAfter(from);

    const filters = [
      ['category=action', { categories: ['action'] }],
      ['type=DealStageChanged,DealNoteAdded', { eventTypes: ['DealStageChanged', 'DealNoteAdded'] }],
      [`stream=deal-${acme}`, { streamIds: [`deal-${acme}`] }],
      [`category=deal&type=DealNoteAdded&stream=deal-${beta},deal-${acme}`, { categories: ['deal'], eventTypes: ['DealNoteAdded'], streamIds: [`deal-${beta}`, `deal-${acme}`] }],
    ] as const;
    for (const [query, filter] of filters) {
      const expected = log.filter((event) => matchesFilter(event, filter)).map((event) => event.position);
      expect(expected.length, query).to.be.above(0);
      const feed = client(`${app.url}?from=${from}&${query}`);
      await feed.receives(expected.length);
      expect(feed.ids, query).to.deep.equal(expected);
    }
  });

  it('moves the id of a filtered feed past the events it skips, in a message without data', async () => {
    const dealId = await newDeal('Quiet');
    const raw = await rawFeed(`${app.url}?type=DealNoteAdded&from=${head()}`, keys.int!);
    cleanups.push(raw.close);
    await command(`/api/deals/${dealId}/stage`, { to: 'screening' }, 'ops');
    const skipped = (await harness.store.readStream(`deal-${dealId}`, { direction: 'backwards', maxCount: 1 })[Symbol.asyncIterator]().next()).value as RecordedEvent;
    const bareIds = () => [...raw.text().matchAll(/(?<=\n\n)id: ([0-9a-f]{32})\n\n/g)].map((match) => match[1]!);
    await eventually(() => bareIds().some((id) => id >= skipped.position), 10_000, 'an id past the skipped event');
    expect(raw.text()).to.not.include('event:');
  });

  it('resumes an EventSource that lost its connection right after the last event it had: no gap, no duplicate', async () => {
    const feed = await feedApp({ retryMs: 300 });
    const from = head();
    const source = client(`${feed.url}?from=${from}`);
    const dealId = await newDeal('Resumed');
    await source.receives(1);

    feed.server.closeAllConnections(); // the server drops it; EventSource reconnects by itself
    await command(`/api/deals/${dealId}/notes`, { text: 'while away' }, 'ops');
    await command(`/api/deals/${dealId}/stage`, { to: 'screening' }, 'ops');

    const log = await logAfter(from);
    await source.receives(log.length);
    expect(source.opened).to.equal(2);
    expect(source.ids).to.deep.equal(log.map((event) => event.position));
  });

  it('reaches an EventSource that has only onmessage, resuming after Last-Event-ID across a dropped connection: every event of the resumed feed', async () => {
    const feed = await feedApp({ retryMs: 300 });
    const from = head();
    const dealId = await newDeal('Plain');
    for (const text of ['one', 'two']) await command(`/api/deals/${dealId}/notes`, { text }, 'ops');
    const [created] = await logAfter(from);

    const plain = client(`${feed.url}?from=start`, keys.int, created!.position); // Last-Event-ID wins over from
    await command(`/api/deals/${dealId}/stage`, { to: 'screening' }, 'ops');
    await plain.receives(3);
    feed.server.closeAllConnections(); // EventSource reconnects with the last id it saw
    await command('/api/actions', { dealId, kind: 'send_email', title: 'Send the NDA', payload: payloadOf('send_email') }, 'scout');
    await command(`/api/deals/${dealId}/notes`, { text: 'three' }, 'ops');

    const resumed = (await logAfter(from)).slice(1);
    await plain.receives(resumed.length);
    expect(plain.opened).to.equal(2);
    expect(plain.ids).to.deep.equal(resumed.map((event) => event.position));
    expect(plain.types).to.deep.equal(resumed.map((event) => event.type));
    expect(new Set(plain.types).size, 'events of several types, deal and action').to.be.above(3);
    expect(new Set(plain.received.map((item) => item.name))).to.deep.equal(new Set(['message']));
  });

  it('names each message by its event type with events=named, for clients that listen by type; onmessage then hears nothing', async () => {
    const from = head();
    const named = client(`${app.url}?from=${from}&events=named`, keys.int, undefined, 'named');
    const raw = await rawFeed(`${app.url}?from=${from}&events=named`, keys.int!);
    const plain = await rawFeed(`${app.url}?from=${from}`, keys.int!);
    cleanups.push(raw.close, plain.close);
    const dealId = await newDeal('Named');
    await command(`/api/deals/${dealId}/notes`, { text: 'named' }, 'ops');

    const log = await logAfter(from);
    await named.receives(log.length);
    expect(named.received.map((item) => item.name)).to.deep.equal(['DealCreated', 'DealNoteAdded']);
    expect(named.types).to.deep.equal(['DealCreated', 'DealNoteAdded']);
    expect(named.ids).to.deep.equal(log.map((event) => event.position));
    expect(named.unnamed).to.equal(0);
    await eventually(() => raw.text().includes(`id: ${log[1]!.position}\n`) && plain.text().includes(`id: ${log[1]!.position}\n`), 10_000, 'both raw feeds');
    expect(raw.text()).to.include(`id: ${log[0]!.position}\nevent: DealCreated\ndata: {`);
    expect(plain.text()).to.include(`id: ${log[0]!.position}\ndata: {`).and.not.include('event:');
  });

  it('resumes after Last-Event-ID, which wins over from', async () => {
    const from = head();
    const first = client(`${app.url}?from=${from}`);
    const dealId = await newDeal('Gamma');
    for (const text of ['one', 'two', 'three']) await command(`/api/deals/${dealId}/notes`, { text }, 'ops');
    await first.receives(2);
    first.close();
    const lastId = first.ids.at(-1)!;

    await command(`/api/deals/${dealId}/notes`, { text: 'four' }, 'ops');
    const second = client(`${app.url}?from=start`, keys.int, lastId);
    const log = await logAfter(from);
    await second.receives(log.length - first.received.length);
    expect([...first.ids, ...second.ids]).to.deep.equal(log.map((event) => event.position));
  });

  it('ends its subscription when the client leaves, also one that left before the feed began', async () => {
    let requests = 0;
    let handedOn = false;
    const feed = await feedApp({}, async (req, _res, next) => {
      if (requests++ > 0) return next();
      await eventually(() => req.socket.destroyed, 5_000, 'the early client to leave');
      next();
      handedOn = true;
    });
    const early = http.get(feed.url, { headers: { authorization: `Bearer ${keys.int}` } }).on('error', () => undefined);
    // Once the server has it: a request destroyed sooner may never reach the server at all.
    await eventually(() => requests > 0, 5_000, 'the early request to reach the server');
    early.destroy();
    await eventually(() => handedOn, 5_000, 'the early request to reach the feed');

    const late = client(feed.url);
    await eventually(() => feed.store.open === 1, 5_000, 'the late subscription');
    late.close();
    await eventually(() => feed.store.open === 0, 5_000, 'every subscription to end');
  });

  it('opens with event-stream headers and retry, then sends heartbeats while idle', async () => {
    const feed = await feedApp({ heartbeatMs: 50 });
    const raw = await rawFeed(feed.url, keys.root!);
    cleanups.push(raw.close);
    expect(raw.res.statusCode).to.equal(200);
    expect(raw.res.headers).to.include({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    await eventually(() => raw.text().split(': heartbeat\n\n').length > 3, 5_000, 'three heartbeats');
    expect(raw.text()).to.match(/^retry: 3000\n\n/);
  });

  it('ends its feeds at once when the process stops, for the clients to reconnect elsewhere', async () => {
    const feed = await feedApp({ heartbeatMs: 60_000 });
    const raw = await rawFeed(feed.url, keys.int!);
    cleanups.push(raw.close);
    await eventually(() => feed.store.open === 1, 5_000, 'the subscription');
    beginShutdown(feed.app); // as the api role's stop() does
    await once(raw.res, 'end');
    await eventually(() => feed.store.open === 0, 5_000, 'the subscription to end');
  });

  it('holds at most so many feeds per principal and per process, answering 429 beyond, and frees a slot when a feed ends', async () => {
    const feed = await feedApp({ heartbeatMs: 60_000, caps: { perPrincipal: 2, perProcess: 3 } });
    const open = async (key: string) => {
      const raw = await rawFeed(feed.url, key);
      cleanups.push(raw.close);
      return raw;
    };
    const refusal = async (key: string) => {
      const res = await fetch(feed.url, { headers: { authorization: `Bearer ${key}` } });
      return { status: res.status, type: res.headers.get('content-type'), retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { code: string; detail: string } };
    };
    const [first, second] = [await open(keys.int!), await open(keys.int!)];
    expect([first.res.statusCode, second.res.statusCode]).to.deep.equal([200, 200]);
    const third = await refusal(keys.int!);
    expect(third).to.deep.include({ status: 429, type: 'application/problem+json; charset=utf-8', retryAfter: '3' });
    expect(third.body.code).to.equal('FEED.TOO_MANY');
    expect(third.body.detail).to.match(/holds 2 open feeds, the most one may/);

    const other = await open(keys.root!); // another principal, the process's third
    expect(other.res.statusCode).to.equal(200);
    expect((await refusal(keys.root!)).body.detail).to.match(/server holds 3 open feeds/);
    await eventually(() => feed.store.open === 3, 5_000, 'three subscriptions');

    first.close(); // the client leaves: its slot is free again once the server has seen it go
    await eventually(async () => {
      const res = await fetch(feed.url, { headers: { authorization: `Bearer ${keys.int}` } });
      cleanups.push(() => void res.body?.cancel().catch(() => undefined));
      return res.status === 200;
    }, 10_000, 'a slot for the integration again');
    expect((await refusal(keys.int!)).status).to.equal(429);
  });

  it('frees the slots of the feeds it ends when the process stops', async () => {
    const feed = await feedApp({ heartbeatMs: 60_000, caps: { perPrincipal: 1, perProcess: 1 } });
    const raw = await rawFeed(feed.url, keys.int!);
    cleanups.push(raw.close);
    expect(raw.res.statusCode).to.equal(200);
    expect((await fetch(feed.url, { headers: { authorization: `Bearer ${keys.int}` } })).status).to.equal(429);
    beginShutdown(feed.app);
    await once(raw.res, 'end');
    await eventually(() => feed.store.open === 0, 5_000, 'the subscription to end');
    // A feed opened now ends at once (the process is stopping), but is not refused for want of a slot.
    await eventually(async () => (await fetch(feed.url, { headers: { authorization: `Bearer ${keys.int}` } })).status === 200, 5_000, 'the slot to be free');
  });

  it('is for integration and admin keys only', async () => {
    const statusOf = async (key?: string) => {
      const res = await fetch(app.url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      await res.body?.cancel();
      return res.status;
    };
    expect(await statusOf(keys.int)).to.equal(200);
    expect(await statusOf(keys.root)).to.equal(200);
    expect(await statusOf(keys.ops)).to.equal(403);
    expect(await statusOf()).to.equal(401);
  });

  it('answers malformed parameters with a 400 naming each', async () => {
    const fieldsOf = async (query: string, headers: Record<string, string> = {}) => {
      const res = await request(harness.app).get(`${PATH}?${query}`).set({ authorization: `Bearer ${keys.int}`, ...headers }).expect(400);
      expect(res.type).to.equal('application/problem+json');
      return res.body.errors.map((error: { field: string }) => error.field);
    };
    expect(await fieldsOf('category=deal,nope')).to.deep.equal(['category']);
    expect(await fieldsOf('type=DealCreatd')).to.deep.equal(['type']);
    expect(await fieldsOf(`stream=${randomUUID()}`)).to.deep.equal(['stream']);
    expect(await fieldsOf('category=deal&type=&stream=deal-1')).to.deep.equal(['type']);
    expect(await fieldsOf('from=yesterday')).to.deep.equal(['from']);
    expect(await fieldsOf('limit=5')).to.deep.equal(['limit']);
    expect(await fieldsOf('events=typed')).to.deep.equal(['events']);
    expect(await fieldsOf('from=start', { 'Last-Event-ID': 'not-a-position' })).to.deep.equal(['Last-Event-ID']);
  });

  describe('a client that does not read', function () {
    this.timeout(patient(30_000)); // 20 MB of events stored, then sent
    const EVENTS = 20_000;
    const PER_APPEND = 1_000;

    it('holds the subscription back instead of buffering, then delivers every event in order', async () => {
      const feed = await feedApp();
      let served: http.ServerResponse | undefined;
      feed.server.on('request', (_req, res: http.ServerResponse) => (served = res));
      const req = http.get(`${feed.url}?from=${head()}`, { headers: { authorization: `Bearer ${keys.int}` } });
      cleanups.push(() => req.destroy());
      const [res] = (await once(req, 'response')) as [http.IncomingMessage]; // and not read: no 'data' listener yet

      const appended: string[] = [];
      for (let offset = 0; offset < EVENTS; offset += PER_APPEND) {
        const dealId = randomUUID();
        const events = Array.from({ length: PER_APPEND }, (_, n) => ({
          id: randomUUID(),
          type: 'DealNoteAdded',
          data: { dealId, noteId: randomUUID(), text: `note ${offset + n} `.padEnd(1000, '.'), authorId: 'load' },
        }));
        await harness.store.append(`deal-${dealId}`, events, { expectedRevision: 'no_stream' });
        appended.push(...events.map((event) => event.id));
      }

      await eventually(() => served?.writableNeedDrain === true, 10_000, 'the socket to fill');
      const pulled = feed.store.pulled;
      await sleep(300); // time enough to pull thousands more, were it not waiting for the client
      expect(feed.store.pulled, 'messages pulled while the client does not read').to.equal(pulled);
      expect(pulled).to.be.below(EVENTS / 2);
      expect(served!.writableLength, 'bytes the server holds for the client').to.be.below(64 * 1024);

      const ids: string[] = [];
      let pending = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        const frames = (pending + chunk).split('\n\n');
        pending = frames.pop()!;
        for (const frame of frames) {
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (data) ids.push((JSON.parse(data) as { id: string }).id);
        }
      });
      await eventually(() => ids.length >= EVENTS, 15_000, `${EVENTS} events (have ${ids.length})`);
      expect(ids).to.deep.equal(appended);
    });
  });
});
