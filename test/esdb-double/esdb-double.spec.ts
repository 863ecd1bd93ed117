import { randomUUID } from 'node:crypto';
import { credentials, status } from '@grpc/grpc-js';
import {
  BACKWARDS,
  DeadlineExceededError,
  END,
  EventStoreDBClient,
  jsonEvent,
  START,
  StreamNotFoundError,
  streamNameFilter,
  UnavailableError,
  WrongExpectedVersionError,
  type AppendExpectedRevision,
  type JSONEventType,
  type Position,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { expect } from 'chai';
import { startEsdbDouble, type EsdbDouble } from './index.js';
import { shared, streams, StreamsClient, type ReadReq, type ReadResp } from './protocol.js';
import { EsdbDoubleServer } from './server.js';

type TestEvent = JSONEventType<string, { n: number }>;

describe('EventStoreDB double', () => {
  let double: EsdbDouble;
  let client: EventStoreDBClient;

  beforeEach(async () => {
    double = await startEsdbDouble();
    client = EventStoreDBClient.connectionString(double.connectionString);
  });

  afterEach(async () => {
    await client.dispose();
    await double.close();
  });

  const event = (n: number, type = 'Tested', id = randomUUID()) => jsonEvent<TestEvent>({ id, type, data: { n } });
  const ids = (resolved: readonly ResolvedEvent[]) => resolved.map((r) => r.event?.id);
  const append = (stream: string, events: ReturnType<typeof event>[], expectedRevision: AppendExpectedRevision = 'any') =>
    client.appendToStream(stream, events, { expectedRevision });

  describe('appends', () => {
    it('checks every kind of expected revision, storing nothing on a conflict', async () => {
      expect((await append('deal-1', [event(0), event(1)], 'no_stream')).nextExpectedRevision).to.equal(1n);
      await expectWrongExpectedVersion(append('deal-1', [event(2)], 'no_stream'), { expected: 'no_stream', actual: 1n });
      expect((await append('deal-1', [event(2)], 1n)).nextExpectedRevision).to.equal(2n);
      await expectWrongExpectedVersion(append('deal-1', [event(3), event(4)], 1n), { expected: 1n, actual: 2n });
      await expectWrongExpectedVersion(append('deal-2', [event(0)], 'stream_exists'), { expected: 'stream_exists', actual: 'no_stream' });
      await expectWrongExpectedVersion(append('deal-2', [event(0)], 5n), { expected: 5n, actual: 'no_stream' });
      expect((await append('deal-1', [event(3)], 'stream_exists')).nextExpectedRevision).to.equal(3n);
      expect((await append('deal-1', [event(4)], 'any')).nextExpectedRevision).to.equal(4n);
      expect(double.eventCount).to.equal(5);
    });

    it('takes a retry of the same event ids right after the expected revision as done, storing nothing', async () => {
      const [a, b, c] = [event(0), event(1), event(2)];
      const first = await append('deal-1', [a, b], 'no_stream');
      await append('deal-1', [c], 1n);

      expect(await append('deal-1', [a, b], 'no_stream')).to.deep.equal(first);
      expect(await append('deal-1', [a, b], 'any')).to.deep.equal(first);
      const retryOfC = await append('deal-1', [c], 1n);
      expect(retryOfC.nextExpectedRevision).to.equal(2n);
      expect(double.eventCount).to.equal(3);
    });

    it('refuses the same event ids elsewhere, or only some of them', async () => {
      const [a, b, c] = [event(0), event(1), event(2)];
      await append('deal-1', [a, b], 'no_stream');
      await append('deal-1', [c], 1n);

      await expectWrongExpectedVersion(append('deal-1', [a, b], 0n), { expected: 0n, actual: 2n });
      await expectWrongExpectedVersion(append('deal-1', [a, event(9)], 'no_stream'), { expected: 'no_stream', actual: 2n });
      await expectWrongExpectedVersion(append('deal-1', [b, a], 'any'), { expected: 'any', actual: 2n });
      expect(double.eventCount).to.equal(3);
    });

    it('is served through BatchAppend, as by 21.10 and later, unless the call brings credentials', async () => {
      const server = await EsdbDoubleServer.start();
      const own = EventStoreDBClient.connectionString(server.connectionString);
      try {
        await own.appendToStream('deal-1', [event(0)]);
        await own.appendToStream('deal-1', [event(1)]);
        await own.appendToStream('deal-1', [event(2)], { credentials: { username: 'admin', password: 'changeit' } });
        expect(server.requestCounts).to.deep.equal({ read: 0, append: 1, batchAppend: 1 });
        expect(server.eventCount).to.equal(3);
      } finally {
        await own.dispose();
        await server.close();
      }
    });
  });

  describe('positions', () => {
    it("gives each event its own log offset as commit and prepare; an append reports its last event's", async () => {
      const batch = await append('deal-1', [event(0), event(1), event(2)]);
      const single = await append('deal-2', [event(3)]);
      const positions = (await readAll()).map((r) => r.event?.position);

      expect(positions).to.have.length(4);
      for (const position of positions) expect(position?.prepare).to.equal(position?.commit);
      const commits = positions.map((position) => Number(position?.commit));
      expect(commits[0]).to.be.greaterThan(0);
      commits.slice(1).forEach((commit, i) => expect(commit - (commits[i] as number)).to.be.greaterThan(100));
      expect(batch.position).to.deep.equal(positions[2]);
      expect(single.position).to.deep.equal(positions[3]);
    });
  });

  describe('stream reads', () => {
    beforeEach(() => append('deal-1', [0, 1, 2, 3].map((n) => event(n))));

    const revisions = async (read: AsyncIterable<ResolvedEvent>) => (await collect(read)).map((r) => r.event?.revision);

    it('reads forwards or backwards, from the start, the end or a revision, up to a count', async () => {
      expect(await revisions(client.readStream('deal-1'))).to.deep.equal([0n, 1n, 2n, 3n]);
      expect(await revisions(client.readStream('deal-1', { fromRevision: 2n, maxCount: 1 }))).to.deep.equal([2n]);
      expect(await revisions(client.readStream('deal-1', { fromRevision: END }))).to.deep.equal([]);
      expect(await revisions(client.readStream('deal-1', { direction: BACKWARDS, fromRevision: END }))).to.deep.equal([3n, 2n, 1n, 0n]);
      expect(await revisions(client.readStream('deal-1', { direction: BACKWARDS, fromRevision: 1n }))).to.deep.equal([1n, 0n]);
    });

    it('carries the event as written, with its position', async () => {
      const id = randomUUID();
      const metadata = { correlationId: 'c-1' };
      await client.appendToStream('deal-2', jsonEvent({ id, type: 'DealCreated', data: { name: 'Acme' }, metadata }));
      const [read] = await collect(client.readStream('deal-2'));

      expect(read?.event).to.include({ id, streamId: 'deal-2', type: 'DealCreated', isJson: true, revision: 0n });
      expect(read?.event?.data).to.deep.equal({ name: 'Acme' });
      expect(read?.event?.metadata).to.deep.equal(metadata);
      expect(read?.event?.position?.commit).to.be.a('bigint');
      expect(Math.abs(Number(read?.event?.created) - Date.now())).to.be.lessThan(5_000);
    });

    it('answers a stream without events with StreamNotFoundError', async () => {
      const error = await collect(client.readStream('deal-none')).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(StreamNotFoundError);
      expect(error).to.have.property('streamName', 'deal-none');
    });
  });

  describe('$all reads', () => {
    it('reads forwards from a position including the event there, backwards excluding it', async () => {
      await append('deal-1', [0, 1, 2, 3].map((n) => event(n)));
      const all = await readAll();
      const second = all[1]?.event?.position as Position;

      expect(ids(await readAll({ fromPosition: second }))).to.deep.equal(ids(all.slice(1)));
      expect(ids(await readAll({ fromPosition: second, direction: BACKWARDS }))).to.deep.equal(ids(all.slice(0, 1)));
      expect(ids(await readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 2 }))).to.deep.equal(ids(all.slice(2).reverse()));
    });

    it('filters on stream prefixes or an event type regex (the client cannot ask; the protocol can)', async () => {
      await append('deal-1', [event(0, 'DealCreated'), event(1, 'DealClosed')]);
      await append('action-1', [event(2, 'ActionProposed')]);
      await append('deal-2', [event(3, 'DealCreated')]);

      const byStream = await rawMessages(double, readRequest({ filter: { on: 'stream', prefixes: ['deal-'] }, count: 10n }));
      expect(byStream.map(eventStream)).to.deep.equal(['deal-1', 'deal-1', 'deal-2']);
      const byType = await rawMessages(double, readRequest({ filter: { on: 'type', regex: 'Created$' }, count: 1n }));
      expect(byType.map(eventStream)).to.deep.equal(['deal-1']);
    });
  });

  describe('subscriptions', () => {
    it('to $all: the events after the start, then caughtUp, then events as they are appended', async () => {
      await append('deal-1', [event(0), event(1)]);
      await append('deal-2', [event(2)]);
      const subscription = client.subscribeToAll({ fromPosition: START });
      const live = event(3);
      let caughtUp = 0;
      subscription.on('caughtUp', () => {
        caughtUp += 1;
        void append('deal-3', [live]);
      });

      const received = await collect(subscription, 4);
      expect(ids(received)).to.deep.equal([...ids(await readAll()).slice(0, 3), live.id]);
      expect(caughtUp).to.equal(1);
    });

    it('to $all from a position: only the events after it', async () => {
      await append('deal-1', [event(0), event(1), event(2)]);
      const all = await readAll();
      const subscription = client.subscribeToAll({ fromPosition: all[0]?.event?.position as Position });
      subscription.on('caughtUp', () => void append('deal-2', [event(3)]));

      const received = await collect(subscription, 3);
      expect(ids(received).slice(0, 2)).to.deep.equal(ids(all.slice(1)));
      expect(received[2]?.event?.streamId).to.equal('deal-2');
    });

    it('to $all with a filter: matching events, and checkpoints every multiplier × window events considered', async () => {
      for (let n = 0; n < 10; n++) await append(n === 2 || n === 6 ? `keep-${n}` : `skip-${n}`, [event(n)]);
      const checkpoints: Position[] = [];
      const liveSkipped: Position[] = [];
      const subscription = client.subscribeToAll({
        fromPosition: START,
        filter: streamNameFilter({ prefixes: ['keep-'], maxSearchWindow: 2, checkpointInterval: 2, checkpointReached: (_, p) => void checkpoints.push(p) }),
      });
      subscription.on('caughtUp', async () => {
        for (let n = 10; n < 14; n++) liveSkipped.push((await append(`skip-${n}`, [event(n)])).position as Position);
        await append('keep-14', [event(14)]);
      });

      const received = await collect(subscription, 3);
      expect(received.map((r) => r.event?.streamId)).to.deep.equal(['keep-2', 'keep-6', 'keep-14']);
      // Catching up: after 4 and 8 events, then on going live, at the end of the last record read with prepare 0 (as the server does).
      const all = await readAll();
      const endOf = (index: number) => ({ commit: all[index + 1]?.event?.position?.commit as bigint, prepare: 0n });
      expect(checkpoints.slice(0, 2)).to.deep.equal([endOf(3), endOf(7)]);
      expect(checkpoints[2]?.prepare).to.equal(0n);
      expect(checkpoints[2]?.commit).to.equal(liveSkipped[0]?.commit);
      // Live: at the position of the 4th event considered since then.
      expect(checkpoints[3]).to.deep.equal(liveSkipped[3]);
    });

    it('to a stream from a revision: the later events, caughtUp, then live ones', async () => {
      await append('deal-1', [event(0), event(1), event(2)]);
      const subscription = client.subscribeToStream('deal-1', { fromRevision: 0n });
      subscription.on('caughtUp', () => void append('deal-1', [event(3)], 2n));

      const received = await collect(subscription, 3);
      expect(received.map((r) => r.event?.revision)).to.deep.equal([1n, 2n, 3n]);
    });

    it('to a stream that does not exist yet: waits for its events', async () => {
      const subscription = client.subscribeToStream('deal-9');
      subscription.on('caughtUp', () => void append('deal-9', [event(0)], 'no_stream'));

      expect((await collect(subscription, 1))[0]?.event?.streamId).to.equal('deal-9');
    });
  });

  describe('faults', () => {
    it('dropSubscriptions ends open subscriptions with UNAVAILABLE; subscribing again works', async () => {
      await append('deal-1', [event(0)]);
      const toAll = client.subscribeToAll();
      const toStream = client.subscribeToStream('deal-1');
      await Promise.all([caughtUp(toAll), caughtUp(toStream)]);

      double.dropSubscriptions();
      const errors = await Promise.all([collect(toAll).catch((e: unknown) => e), collect(toStream).catch((e: unknown) => e)]);
      for (const error of errors) expect(error).to.be.instanceOf(UnavailableError);
      const again = client.subscribeToAll();
      again.on('caughtUp', () => void append('deal-1', [event(1)], 0n));
      expect((await collect(again, 2)).map((r) => r.event?.revision)).to.deep.equal([0n, 1n]);
    });

    it('refuseAppends fails the next appends with the status given, storing nothing', async () => {
      double.refuseAppends(2);
      for (let n = 0; n < 2; n++) {
        expect(await append('deal-1', [event(n)]).catch((e: unknown) => e)).to.be.instanceOf(UnavailableError);
      }
      double.refuseAppends(1, status.DEADLINE_EXCEEDED);
      expect(await append('deal-1', [event(2)]).catch((e: unknown) => e)).to.be.instanceOf(DeadlineExceededError);
      expect(double.eventCount).to.equal(0);

      expect((await append('deal-1', [event(3)], 'no_stream')).nextExpectedRevision).to.equal(0n);
    });
  });

  describe('protocol', () => {
    it('sends a filtered subscription its confirmation, events, checkpoints and caughtUp in order', async () => {
      await append('keep-1', [event(0)]);
      await append('skip-1', [event(1), event(2)]);
      const request = readRequest({ filter: { on: 'stream', prefixes: ['keep-'], window: 1, multiplier: 2 }, subscription: true });

      const kinds = (await rawMessages(double, request, (response) => response.hasCaughtUp())).map(messageKind);
      expect(kinds).to.deep.equal(['confirmation', 'event', 'checkpoint', 'checkpoint', 'caughtUp']);
    });

    it('sends structured UUIDs when asked', async () => {
      const id = randomUUID();
      await append('deal-1', [event(0, 'Tested', id)]);
      const [response] = await rawMessages(double, readRequest({ count: 1n, structuredUuids: true }));
      const uuid = response?.getEvent()?.getEvent()?.getId();

      expect(uuid?.hasStructured()).to.equal(true);
      const halves = [uuid?.getStructured()?.getMostSignificantBits(), uuid?.getStructured()?.getLeastSignificantBits()];
      const hex = halves.map((half) => BigInt.asUintN(64, BigInt(half ?? 0)).toString(16).padStart(16, '0')).join('');
      expect(hex).to.equal(id.replace(/-/g, ''));
    });
  });

  function readAll(options: Parameters<EventStoreDBClient['readAll']>[0] = {}): Promise<ResolvedEvent[]> {
    return collect(client.readAll(options));
  }
});

async function expectWrongExpectedVersion(
  appending: Promise<unknown>,
  versions: { expected: WrongExpectedVersionError['expectedVersion']; actual: WrongExpectedVersionError['actualVersion'] },
): Promise<void> {
  const error = await appending.then(
    () => expect.fail('the append succeeded'),
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(WrongExpectedVersionError);
  expect(error).to.include({ expectedVersion: versions.expected, actualVersion: versions.actual });
}

/** The items of a read, or the first `count` of a subscription. */
async function collect<T>(items: AsyncIterable<T>, count = Infinity): Promise<T[]> {
  const collected: T[] = [];
  if (count === 0) return collected;
  for await (const item of items) {
    collected.push(item);
    if (collected.length >= count) break;
  }
  return collected;
}

function caughtUp(subscription: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => subscription.once('caughtUp', () => resolve()));
}

type RawFilter = { on: 'stream' | 'type'; prefixes?: string[]; regex?: string; window?: number; multiplier?: number };

/** A read of $all from the start as the client would build it, with what the client cannot set. */
function readRequest(options: { filter?: RawFilter; count?: bigint; subscription?: boolean; structuredUuids?: boolean }): ReadReq {
  const { Options } = streams.ReadReq;
  const readOptions = new Options()
    .setAll(new Options.AllOptions().setStart(new shared.Empty()))
    .setReadDirection(Options.ReadDirection.FORWARDS)
    .setResolveLinks(false)
    .setUuidOption(options.structuredUuids ? new Options.UUIDOption().setStructured(new shared.Empty()) : new Options.UUIDOption().setString(new shared.Empty()));
  if (options.subscription) readOptions.setSubscription(new Options.SubscriptionOptions());
  else readOptions.setCount((options.count ?? 100n).toString());
  const { filter } = options;
  if (!filter) return new streams.ReadReq().setOptions(readOptions.setNoFilter(new shared.Empty()));
  const expression = new Options.FilterOptions.Expression().setPrefixList(filter.prefixes ?? []).setRegex(filter.regex ?? '');
  const filterOptions = new Options.FilterOptions().setCheckpointintervalmultiplier(filter.multiplier ?? 1);
  if (filter.on === 'stream') filterOptions.setStreamIdentifier(expression);
  else filterOptions.setEventType(expression);
  if (filter.window) filterOptions.setMax(filter.window);
  else filterOptions.setCount(new shared.Empty());
  return new streams.ReadReq().setOptions(readOptions.setFilter(filterOptions));
}

/** The responses to a raw Streams.Read, up to the end of the call or the one `last` accepts. */
function rawMessages(double: EsdbDouble, request: ReadReq, last?: (response: ReadResp) => boolean): Promise<ReadResp[]> {
  const address = new URL(double.connectionString.replace('esdb://', 'http://')).host;
  const raw = new StreamsClient(address, credentials.createInsecure());
  const call = raw.read(request);
  const responses: ReadResp[] = [];
  return new Promise<ReadResp[]>((resolve, reject) => {
    call.on('data', (response: ReadResp) => {
      responses.push(response);
      if (last?.(response)) {
        call.cancel();
        resolve(responses);
      }
    });
    call.on('end', () => resolve(responses));
    call.on('error', (error: { code?: number }) => (error.code === status.CANCELLED ? resolve(responses) : reject(error)));
  }).finally(() => raw.close());
}

function eventStream(response: ReadResp): string | undefined {
  const identifier = response.getEvent()?.getEvent()?.getStreamIdentifier();
  return identifier && Buffer.from(identifier.getStreamName_asU8()).toString('utf8');
}

function messageKind(response: ReadResp): string {
  const { ContentCase } = streams.ReadResp;
  const names: Partial<Record<number, string>> = {
    [ContentCase.EVENT]: 'event',
    [ContentCase.CONFIRMATION]: 'confirmation',
    [ContentCase.CHECKPOINT]: 'checkpoint',
    [ContentCase.CAUGHT_UP]: 'caughtUp',
  };
  return names[response.getContentCase()] ?? 'other';
}
