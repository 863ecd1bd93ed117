import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import {
  isCheckpoint,
  type EventFilter,
  type EventStore,
  type EventToAppend,
  type ExpectedRevision,
  type Position,
  type RecordedEvent,
  type SubscribeOptions,
} from '../../src/eventstore/contract.js';
import { InvalidInputError, StreamNotFoundError, WrongExpectedRevisionError } from '../../src/eventstore/errors.js';
import { comparePositions } from '../../src/eventstore/position.js';
import { collect, eventually, rejectionOf, patient } from '../support/async.js';

/** What an adapter hands the contract suite. */
export interface ContractTarget {
  store: EventStore;
  /** Appends with the store's transaction held open `holdMs` before commit, where the store has transactions. */
  slowAppend?: (streamId: string, events: EventToAppend[], expectedRevision: ExpectedRevision, holdMs: number) => Promise<void>;
  /** Cuts the store's connections from the server side, as a restart or network fault would. */
  dropConnections?: () => Promise<void>;
  teardown(): Promise<void>;
}

/**
 * The event store contract of DESIGN.md, run unchanged against every adapter. Each test writes to
 * its own random category, so the suite also runs against a shared, non-empty store.
 */
export function eventStoreContract(adapter: string, setup: () => Promise<ContractTarget>): void {
  describe(`event store contract: ${adapter}`, function () {
    this.timeout(patient(60_000));
    let target: ContractTarget;
    let store: EventStore;

    before(async () => {
      target = await setup();
      store = target.store;
    });
    after(async () => target?.teardown());

    describe('append and read a stream', () => {
      it('stores events with revisions from 0 and reads them back forwards', async () => {
        const stream = streamIn(category());
        const first = await store.append(stream, [event('Opened', { n: 1 }, { actor: 'u1' }), event('Renamed', { n: 2 })], {
          expectedRevision: 'no_stream',
        });
        expect(first.nextRevision).to.equal(1n);

        const read = await collect(store.readStream(stream));
        expect(read.map((e) => [e.revision, e.type, e.data])).to.deep.equal([
          [0n, 'Opened', { n: 1 }],
          [1n, 'Renamed', { n: 2 }],
        ]);
        expect(read[0]!.metadata).to.deep.equal({ actor: 'u1' });
        expect(read[0]!.streamId).to.equal(stream);
        expect(read[0]!.recordedAt).to.be.instanceOf(Date);
        expect(comparePositions(read[0]!.position, read[1]!.position)).to.equal(-1);
        expect(read[1]!.position).to.equal(first.position);
      });

      it('reads backwards, from a revision, and up to a count', async () => {
        const stream = streamIn(category());
        await store.append(stream, range(5).map((n) => event('Counted', { n })), { expectedRevision: 'no_stream' });

        const backwards = await collect(store.readStream(stream, { direction: 'backwards' }));
        expect(backwards.map((e) => e.revision)).to.deep.equal([4n, 3n, 2n, 1n, 0n]);
        const middle = await collect(store.readStream(stream, { fromRevision: 1n, maxCount: 3 }));
        expect(middle.map((e) => e.data.n)).to.deep.equal([1, 2, 3]);
        const lastTwo = await collect(store.readStream(stream, { direction: 'backwards', fromRevision: 'end', maxCount: 2 }));
        expect(lastTwo.map((e) => e.revision)).to.deep.equal([4n, 3n]);
        const fromThreeBack = await collect(store.readStream(stream, { direction: 'backwards', fromRevision: 3n }));
        expect(fromThreeBack.map((e) => e.revision)).to.deep.equal([3n, 2n, 1n, 0n]);
      });

      it('reads a long stream across pages', async () => {
        const stream = streamIn(category());
        for (let i = 0; i < 5; i++) {
          await store.append(stream, range(1000).map((n) => event('Counted', { n: i * 1000 + n })), { expectedRevision: 'any' });
        }
        const read = await collect(store.readStream(stream));
        expect(read).to.have.length(5000);
        expect(read.every((e, i) => e.revision === BigInt(i) && e.data.n === i)).to.equal(true);
      });

      it('reports a stream that does not exist', async () => {
        const error = await rejectionOf(collect(store.readStream(streamIn(category()))));
        expect(error).to.be.instanceOf(StreamNotFoundError);
      });
    });

    describe('expected revision', () => {
      it('appends at the current revision and rejects a stale one, naming stream, expected and actual', async () => {
        const stream = streamIn(category());
        await store.append(stream, [event('A')], { expectedRevision: 'no_stream' });
        const second = await store.append(stream, [event('B')], { expectedRevision: 0n });
        expect(second.nextRevision).to.equal(1n);

        const error = await rejectionOf(store.append(stream, [event('C')], { expectedRevision: 0n }));
        expect(error).to.be.instanceOf(WrongExpectedRevisionError);
        expect(error).to.include({ streamId: stream, expected: 0n, actual: 1n });
        expect(await types(stream)).to.deep.equal(['A', 'B']);
      });

      it('honours no_stream, exists and any', async () => {
        const stream = streamIn(category());
        const noStream = await rejectionOf(store.append(stream, [event('A')], { expectedRevision: 'exists' }));
        expect(noStream).to.be.instanceOf(WrongExpectedRevisionError).and.include({ actual: 'no_stream', expected: 'exists' });
        await store.append(stream, [event('A')], { expectedRevision: 'no_stream' });
        const exists = await rejectionOf(store.append(stream, [event('B')], { expectedRevision: 'no_stream' }));
        expect(exists).to.be.instanceOf(WrongExpectedRevisionError).and.include({ actual: 0n });
        await store.append(stream, [event('B')], { expectedRevision: 'exists' });
        const any = await store.append(stream, [event('C')], { expectedRevision: 'any' });
        expect(any.nextRevision).to.equal(2n);
        const fresh = await store.append(streamIn(category()), [event('A')], { expectedRevision: 'any' });
        expect(fresh.nextRevision).to.equal(0n);
      });

      it('lets exactly one of N concurrent writers with the same expected revision win', async () => {
        const stream = streamIn(category());
        await store.append(stream, [event('Opened')], { expectedRevision: 'no_stream' });
        for (let round = 0; round < 5; round++) {
          const writers = 8;
          const outcomes = await Promise.allSettled(
            range(writers).map((w) => store.append(stream, [event('Wrote', { w, round }), event('Wrote', { w, round })], { expectedRevision: BigInt(round * 2) })),
          );
          const won = outcomes.filter((o) => o.status === 'fulfilled');
          const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
          expect(won).to.have.length(1);
          expect(lost).to.have.length(writers - 1);
          for (const loss of lost) expect(loss.reason).to.be.instanceOf(WrongExpectedRevisionError);
        }
        const read = await collect(store.readStream(stream));
        expect(read).to.have.length(11);
        // Each round's two events came from one writer: nothing of a loser was stored.
        for (let round = 0; round < 5; round++) expect(read[1 + round * 2]!.data).to.deep.equal(read[2 + round * 2]!.data);
      });
    });

    describe('idempotent append', () => {
      it('re-appending the same ids at the same place succeeds and stores nothing new', async () => {
        const stream = streamIn(category());
        await store.append(stream, [event('A')], { expectedRevision: 'no_stream' });
        const batch = [event('B'), event('C')];
        const first = await store.append(stream, batch, { expectedRevision: 0n });
        const again = await store.append(stream, batch, { expectedRevision: 0n });
        expect(again).to.deep.equal(first);
        const withAny = await store.append(stream, batch, { expectedRevision: 'any' });
        expect(withAny).to.deep.equal(first);
        expect(await types(stream)).to.deep.equal(['A', 'B', 'C']);
      });

      it('re-creating a stream with the same first events is idempotent', async () => {
        const stream = streamIn(category());
        const batch = [event('A')];
        const first = await store.append(stream, batch, { expectedRevision: 'no_stream' });
        await store.append(stream, [event('B')], { expectedRevision: 0n });
        expect(await store.append(stream, batch, { expectedRevision: 'no_stream' })).to.deep.equal(first);
        expect(await types(stream)).to.deep.equal(['A', 'B']);
      });

      it('rejects the same ids in another arrangement as a conflict', async () => {
        const stream = streamIn(category());
        const a = event('A');
        const b = event('B');
        await store.append(stream, [a, b], { expectedRevision: 'no_stream' });
        expect(await rejectionOf(store.append(stream, [b, a], { expectedRevision: 'no_stream' }))).to.be.instanceOf(WrongExpectedRevisionError);
        expect(await rejectionOf(store.append(stream, [a], { expectedRevision: 0n }))).to.be.instanceOf(WrongExpectedRevisionError);
        expect(await types(stream)).to.deep.equal(['A', 'B']);
      });
    });

    describe('find an event by id', () => {
      it('finds a random or derived id anywhere in its stream, and nothing elsewhere', async () => {
        const stream = streamIn(category());
        const derived = { ...event('B'), id: '5b2c0f3e-1d4a-8e6f-9a7b-0c1d2e3f4a5b' }; // version 8, as derivedUuid makes them
        const first = event('A');
        await store.append(stream, [first, derived, ...range(300).map(() => event('C'))], { expectedRevision: 'no_stream' });
        const found = await store.findEvent(stream, derived.id!);
        expect(found).to.include({ id: derived.id, streamId: stream, type: 'B', revision: 1n });
        expect((await store.findEvent(stream, first.id!.toUpperCase()))?.revision).to.equal(0n);
        expect(await store.findEvent(stream, randomUUID())).to.equal(undefined);
        expect(await store.findEvent(streamIn(category()), derived.id!)).to.equal(undefined);
        expect(await rejectionOf(store.findEvent(stream, 'not-a-uuid'))).to.be.instanceOf(InvalidInputError).and.include({ field: 'eventId' });
      });
    });

    describe('snapshots', () => {
      const snapshot = (revision: bigint, position: Position, state: Record<string, unknown>, version = 1) =>
        ({ name: 'deal', version, revision, position, state: state as EventToAppend['data'] });

      it('keeps the latest snapshot per name and version, never replaced by an older one', async () => {
        const stream = streamIn(category());
        const { position } = await store.append(stream, [event('A'), event('B'), event('C')], { expectedRevision: 'no_stream' });
        expect(await store.readSnapshot(stream, 'deal', 1)).to.equal(undefined);
        await store.writeSnapshot(stream, snapshot(2n, position, { n: 3 }));
        await store.writeSnapshot(stream, snapshot(1n, position, { n: 2 })); // a slower writer, later
        await store.writeSnapshot(stream, snapshot(0n, position, { n: 1 }, 2));
        expect(await store.readSnapshot(stream, 'deal', 1)).to.deep.equal(snapshot(2n, position, { n: 3 }));
        expect(await store.readSnapshot(stream, 'deal', 2)).to.deep.equal(snapshot(0n, position, { n: 1 }, 2));
        expect(await store.readSnapshot(stream, 'deal', 3)).to.equal(undefined);
        expect(await store.readSnapshot(stream, 'agent', 1)).to.equal(undefined);
      });

      it('are not events: reads and subscriptions of the log never see them', async () => {
        const stream = streamIn(category());
        const { position } = await store.append(stream, [event('A')], { expectedRevision: 'no_stream' });
        const subscriber = subscribe(store, { from: position, filter: {} });
        await store.writeSnapshot(stream, snapshot(0n, position, { n: 1 }));
        await store.append(stream, [event('B')], { expectedRevision: 0n });
        await subscriber.waitFor(1);
        const read = await collect(store.readAll({ from: position }));
        await subscriber.stop();
        for (const seen of [read, subscriber.events]) {
          expect(seen.map((e) => e.type)).to.include('B');
          expect(seen.filter((e) => e.type === 'Snapshot' || e.streamId.startsWith('snapshot-'))).to.deep.equal([]);
        }
        expect(await types(stream)).to.deep.equal(['A', 'B']);
      });
    });

    describe('bad input', () => {
      const good = (): EventToAppend[] => [event('A', { ok: true })];
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const badStreams: unknown[] = ['', ' ', 'deal 1', '$all', 'x'.repeat(201), 42, null, undefined];
      const badRevisions: unknown[] = ['latest', -1n, 3, '0', null, undefined, {}];
      const badEvents: [string, unknown][] = [
        ['no events', []],
        ['not a list', { type: 'A', data: {} }],
        ['no type', [{ data: {} }]],
        ['a type with spaces', [{ type: 'Deal Created', data: {} }]],
        ['an id that is not a UUID', [{ id: 'not-a-uuid', type: 'A', data: {} }]],
        ['the same id twice', (() => { const id = randomUUID(); return [{ id, type: 'A', data: {} }, { id, type: 'B', data: {} }]; })()],
        ['data that is not an object', [{ type: 'A', data: [1, 2] }]],
        ['data holding undefined', [{ type: 'A', data: { a: undefined } }]],
        ['data holding a function', [{ type: 'A', data: { f: () => 1 } }]],
        ['data holding NaN', [{ type: 'A', data: { n: NaN } }]],
        ['data holding a bigint', [{ type: 'A', data: { n: 1n } }]],
        ['data holding a Date', [{ type: 'A', data: { at: new Date() } }]],
        ['data holding a cycle', [{ type: 'A', data: circular }]],
        ['data holding a NUL character', [{ type: 'A', data: { s: 'a\u0000b' } }]],
        ['metadata that is not an object', [{ type: 'A', data: {}, metadata: 'x' }]],
        ['an oversized event', [{ type: 'A', data: { blob: 'x'.repeat(2 * 1024 * 1024) } }]],
      ];

      for (const streamId of badStreams) {
        it(`rejects the stream id ${JSON.stringify(streamId) ?? String(streamId)} and writes nothing`, async () => {
          const error = await rejectionOf(store.append(streamId as string, good(), { expectedRevision: 'any' }));
          expect(error).to.be.instanceOf(InvalidInputError).and.include({ field: 'streamId' });
        });
      }
      for (const expectedRevision of badRevisions) {
        it(`rejects the expected revision ${String(expectedRevision)} and writes nothing`, async () => {
          const stream = streamIn(category());
          const error = await rejectionOf(store.append(stream, good(), { expectedRevision: expectedRevision as ExpectedRevision }));
          expect(error).to.be.instanceOf(InvalidInputError).and.include({ field: 'expectedRevision' });
          expect(await rejectionOf(collect(store.readStream(stream)))).to.be.instanceOf(StreamNotFoundError);
        });
      }
      for (const [what, events] of badEvents) {
        it(`rejects ${what}, naming the field, and writes nothing`, async () => {
          const stream = streamIn(category());
          const error = await rejectionOf(store.append(stream, events as EventToAppend[], { expectedRevision: 'any' }));
          expect(error).to.be.instanceOf(InvalidInputError);
          expect((error as InvalidInputError).field).to.match(/^events/);
          expect(await rejectionOf(collect(store.readStream(stream)))).to.be.instanceOf(StreamNotFoundError);
        });
      }
      it('rejects a batch with one bad event whole', async () => {
        const stream = streamIn(category());
        const error = await rejectionOf(store.append(stream, [event('A'), { type: 'B', data: { n: Infinity } }], { expectedRevision: 'any' }));
        expect(error).to.be.instanceOf(InvalidInputError).and.include({ field: 'events[1].data.n' });
        expect(await rejectionOf(collect(store.readStream(stream)))).to.be.instanceOf(StreamNotFoundError);
      });
      it('rejects a position that is not a token and bad read options', async () => {
        expect(await rejectionOf(collect(store.readAll({ from: 'yesterday' })))).to.be.instanceOf(InvalidInputError);
        expect(await rejectionOf(collect(store.readAll({ maxCount: -1 })))).to.be.instanceOf(InvalidInputError);
        expect(await rejectionOf(collect(store.readAll({ filter: { categories: 'deal' as unknown as string[] } })))).to.be.instanceOf(InvalidInputError);
        expect(await rejectionOf(collect(store.subscribe({ from: '12' })))).to.be.instanceOf(InvalidInputError);
        expect(await rejectionOf(collect(store.readStream(streamIn(category()), { fromRevision: -1n })))).to.be.instanceOf(InvalidInputError);
      });
    });

    describe('read all', () => {
      it('reads the log after a position in position order, filtered and bounded', async () => {
        const cat = category();
        const s1 = streamIn(cat);
        const s2 = streamIn(cat);
        const marker = await store.append(s1, [event('Start')], { expectedRevision: 'no_stream' });
        await store.append(s2, [event('X', { i: 1 }), event('Y', { i: 2 })], { expectedRevision: 'no_stream' });
        await store.append(streamIn(category()), [event('X')], { expectedRevision: 'no_stream' }); // another category
        await store.append(s1, [event('X', { i: 3 })], { expectedRevision: 0n });
        // A read right after an append may stop short of it while a transaction is open elsewhere in
        // the cluster (PostgreSQL): once a reader has passed the last append, every read does.
        await eventually(async () => (await collect(store.readAll({ from: marker.position, filter: { streamIds: [s1] } }))).length === 1);

        const all = await collect(store.readAll({ from: marker.position, filter: { categories: [cat] } }));
        expect(all.map((e) => e.data.i)).to.deep.equal([1, 2, 3]);
        expect(isAscending(all.map((e) => e.position))).to.equal(true);
        const onlyX = await collect(store.readAll({ from: marker.position, filter: { categories: [cat], eventTypes: ['X'] } }));
        expect(onlyX.map((e) => e.data.i)).to.deep.equal([1, 3]);
        const oneStream = await collect(store.readAll({ from: marker.position, filter: { streamIds: [s1] } }));
        expect(oneStream.map((e) => e.data.i)).to.deep.equal([3]);
        const two = await collect(store.readAll({ from: marker.position, maxCount: 2, filter: { categories: [cat] } }));
        expect(two.map((e) => e.data.i)).to.deep.equal([1, 2]);
        const fromStart = await collect(store.readAll({ from: 'start', filter: { categories: [cat] } }));
        expect(fromStart).to.have.length(4);
      });
    });

    describe('subscribe', () => {
      it('catches up, then goes live with no gap and no duplicate at the seam', async () => {
        const cat = category();
        const streams = range(4).map(() => streamIn(cat));
        const revisions = new Map<string, bigint>();
        const write = async (n: number): Promise<void> => {
          const stream = streams[n % streams.length]!;
          const next = revisions.get(stream);
          await store.append(stream, [event('Counted', { n })], { expectedRevision: next ?? 'no_stream' });
          revisions.set(stream, (next ?? -1n) + 1n);
        };
        for (let n = 0; n < 300; n++) await write(n);

        const subscriber = subscribe(store, { from: 'start', filter: { categories: [cat] } });
        // Keep writing while the subscriber catches up, across the switch to live.
        for (let n = 300; n < 600; n++) await write(n);
        await subscriber.waitFor(600);
        await subscriber.stop();

        expect(subscriber.events.map((e) => e.data.n)).to.deep.equal(range(600));
        expect(subscriber.checkpoints.some((c) => c.caughtUp)).to.equal(true);
      });

      it('resumes from a checkpoint with exactly the events after it', async () => {
        const cat = category();
        const stream = streamIn(cat);
        await store.append(stream, range(10).map((n) => event('Counted', { n })), { expectedRevision: 'no_stream' });
        const first = subscribe(store, { from: 'start', filter: { categories: [cat] } });
        await first.waitFor(10);
        await first.stop();
        const checkpoint = first.events[4]!.position;

        await store.append(stream, range(5).map((n) => event('Counted', { n: 10 + n })), { expectedRevision: 9n });
        const resumed = subscribe(store, { from: checkpoint, filter: { categories: [cat] } });
        await resumed.waitFor(10);
        await resumed.stop();
        expect(resumed.events.map((e) => e.data.n)).to.deep.equal(range(10).map((n) => n + 5));
      });

      it('resumes from a checkpoint message past filtered-out events', async () => {
        const cat = category();
        const subscriber = subscribe(store, { from: 'end', filter: { categories: [cat], eventTypes: ['Wanted'] } });
        await subscriber.caughtUp(); // 'end' is resolved when the subscription starts, not when it is called
        await store.append(streamIn(cat), [event('Unwanted'), event('Wanted', { n: 1 })], { expectedRevision: 'no_stream' });
        await subscriber.waitFor(1);
        await eventually(() => subscriber.checkpoints.length > 0 && comparePositions(subscriber.checkpoints.at(-1)!.position, subscriber.events[0]!.position) >= 0);
        await subscriber.stop();
        const resumed = subscribe(store, { from: subscriber.checkpoints.at(-1)!.position, filter: { categories: [cat] } });
        await store.append(streamIn(cat), [event('Wanted', { n: 2 })], { expectedRevision: 'no_stream' });
        await resumed.waitFor(1);
        await resumed.stop();
        expect(resumed.events.map((e) => e.data.n)).to.deep.equal([2]);
      });

      it('from the end delivers only what is appended afterwards', async () => {
        const cat = category();
        await store.append(streamIn(cat), [event('Before')], { expectedRevision: 'no_stream' });
        // Once a reader of the log has passed it, 'Before' lies behind any later 'end'.
        await eventually(async () => (await collect(store.readAll({ filter: { categories: [cat] } }))).length === 1);
        const subscriber = subscribe(store, { from: 'end', filter: { categories: [cat] } });
        await subscriber.caughtUp();
        await store.append(streamIn(cat), [event('After')], { expectedRevision: 'no_stream' });
        await subscriber.waitFor(1);
        await subscriber.stop();
        expect(subscriber.events.map((e) => e.type)).to.deep.equal(['After']);
      });

      it('sees every event of 8 concurrent writers exactly once, in revision order per stream', async function () {
        this.timeout(patient(120_000));
        const cat = category();
        const writers = 8;
        const perWriter = 2500;
        const subscriber = subscribe(store, { from: 'end', filter: { categories: [cat] } });
        await subscriber.caughtUp();

        const written = new Map<string, bigint>();
        await Promise.all(
          range(writers).map(async (w) => {
            const streams = range(10).map((s) => `${cat}-w${w}s${s}`);
            let sent = 0;
            let appends = 0;
            while (sent < perWriter) {
              const stream = streams[appends % streams.length]!;
              const size = Math.min(perWriter - sent, 1 + (appends % 5));
              const batch = range(size).map(() => event('Counted', { w }));
              const expected = written.get(stream) ?? 'no_stream';
              // Some transactions stay open a few ms while later ones commit around them.
              if (target.slowAppend && appends % 10 === 3) await target.slowAppend(stream, batch, expected, 2 + (appends % 7));
              else await store.append(stream, batch, { expectedRevision: expected });
              written.set(stream, (written.get(stream) ?? -1n) + BigInt(size));
              sent += size;
              appends++;
            }
          }),
        );
        await subscriber.waitFor(writers * perWriter, 60_000);
        await subscriber.stop();

        const ids = new Set(subscriber.events.map((e) => e.id));
        expect(ids.size).to.equal(writers * perWriter);
        expect(subscriber.events).to.have.length(writers * perWriter);
        expect(isAscending(subscriber.events.map((e) => e.position))).to.equal(true);
        const nextRevision = new Map<string, bigint>();
        for (const e of subscriber.events) {
          expect(e.revision, `revision order in ${e.streamId}`).to.equal(nextRevision.get(e.streamId) ?? 0n);
          nextRevision.set(e.streamId, e.revision + 1n);
        }
        expect([...nextRevision]).to.have.deep.members([...written].map(([s, r]) => [s, r + 1n]));
      });

      it('serves several live subscribers with different filters at once, through bursts larger than a read', async function () {
        this.timeout(patient(120_000));
        const [a, b] = [category(), category()];
        const onlyA = subscribe(store, { from: 'end', filter: { categories: [a] } });
        const both = subscribe(store, { from: 'end', filter: { categories: [a, b] } });
        const typed = subscribe(store, { from: 'end', filter: { categories: [a, b], eventTypes: ['Rare'] } });
        await Promise.all([onlyA.caughtUp(), both.caughtUp(), typed.caughtUp()]);

        // Six appends of 1,000 events land at once (three streams per category, a Rare event now and
        // then): the subscribers read far more than fits in one read of the log.
        const streams = [a, a, a, b, b, b].map((cat) => streamIn(cat));
        await Promise.all(
          streams.map((stream, s) =>
            store.append(stream, range(1000).map((n) => event(n % 250 === 0 ? 'Rare' : 'Counted', { n: s * 1000 + n })), { expectedRevision: 'no_stream' }),
          ),
        );
        await both.waitFor(6000, 60_000);
        await onlyA.waitFor(3000, 60_000);
        await typed.waitFor(24, 60_000);
        await Promise.all([onlyA.stop(), both.stop(), typed.stop()]);

        /** Each stream's events once each and in order, and nothing else. */
        const check = (events: RecordedEvent[], expected: number[]) => {
          const ns = events.map((e) => e.data.n as number);
          expect([...ns].sort((x, y) => x - y)).to.deep.equal(expected);
          for (const stream of streams) {
            const own = events.filter((e) => e.streamId === stream).map((e) => e.data.n as number);
            expect(own).to.deep.equal([...own].sort((x, y) => x - y));
          }
        };
        check(both.events, range(6000));
        check(onlyA.events, range(3000));
        check(typed.events, range(6000).filter((n) => n % 250 === 0));
      });

      it('delivers contended streams in revision order when writers race and retry', async function () {
        this.timeout(patient(120_000));
        const cat = category();
        const streams = range(4).map(() => streamIn(cat));
        const subscriber = subscribe(store, { from: 'end', filter: { categories: [cat] } });
        await subscriber.caughtUp();

        let conflicts = 0;
        await Promise.all(
          range(8).map(async (w) => {
            for (let n = 0; n < 150; n++) {
              const stream = streams[(w + n) % streams.length]!;
              const batch = [event('Counted', { w, n })];
              // As a command handler does: read the revision, decide, append; on a conflict, again.
              for (;;) {
                const [last] = await collect(store.readStream(stream, { direction: 'backwards', maxCount: 1 })).catch(() => []);
                try {
                  await store.append(stream, batch, { expectedRevision: last ? last.revision : 'no_stream' });
                  break;
                } catch (error) {
                  if (!(error instanceof WrongExpectedRevisionError)) throw error;
                  conflicts++;
                }
              }
            }
          }),
        );
        await subscriber.waitFor(8 * 150, 60_000);
        await subscriber.stop();

        expect(conflicts, 'the writers should have raced').to.be.greaterThan(0);
        expect(new Set(subscriber.events.map((e) => e.id)).size).to.equal(8 * 150);
        const nextRevision = new Map<string, bigint>();
        for (const e of subscriber.events) {
          expect(e.revision, `revision order in ${e.streamId}`).to.equal(nextRevision.get(e.streamId) ?? 0n);
          nextRevision.set(e.streamId, e.revision + 1n);
        }
      });

      it('survives its connections being cut and continues where it was', async function () {
        if (!target.dropConnections) return this.skip();
        const cat = category();
        const stream = streamIn(cat);
        const subscriber = subscribe(store, { from: 'end', filter: { categories: [cat] } });
        await subscriber.caughtUp();
        await store.append(stream, range(50).map((n) => event('Counted', { n })), { expectedRevision: 'no_stream' });
        await subscriber.waitFor(50);
        for (let round = 1; round <= 3; round++) {
          await target.dropConnections();
          await appendRetrying(store, stream, range(50).map((n) => event('Counted', { n: round * 50 + n })), BigInt(round * 50 - 1));
          await subscriber.waitFor((round + 1) * 50, 30_000);
        }
        await subscriber.stop();
        expect(subscriber.events.map((e) => e.data.n)).to.deep.equal(range(200));
      });

      it('ends when its signal aborts', async () => {
        const controller = new AbortController();
        const done = collect(store.subscribe({ from: 'end', filter: { categories: [category()] }, signal: controller.signal }));
        setTimeout(() => controller.abort(), 50);
        const messages = await done;
        expect(messages.filter((m) => !isCheckpoint(m))).to.have.length(0);
      });
    });

    async function types(stream: string): Promise<string[]> {
      return (await collect(store.readStream(stream))).map((e) => e.type);
    }
  });
}

function category(): string {
  return 't' + randomBytes(6).toString('hex');
}

function streamIn(cat: string): string {
  return `${cat}-${randomUUID()}`;
}

function event(type: string, data: Record<string, unknown> = {}, metadata?: Record<string, unknown>): EventToAppend {
  return { id: randomUUID(), type, data: data as EventToAppend['data'], ...(metadata ? { metadata: metadata as EventToAppend['data'] } : {}) };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function isAscending(positions: Position[]): boolean {
  return positions.every((p, i) => i === 0 || comparePositions(positions[i - 1]!, p) < 0);
}

/** A connection cut may fail the append in flight; the retry with the same ids is idempotent. */
async function appendRetrying(store: EventStore, stream: string, events: EventToAppend[], expected: bigint): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await store.append(stream, events, { expectedRevision: expected });
      return;
    } catch (error) {
      if (attempt >= 20 || error instanceof WrongExpectedRevisionError || error instanceof InvalidInputError) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

interface RunningSubscriber {
  events: RecordedEvent[];
  checkpoints: { position: Position; caughtUp: boolean }[];
  caughtUp(): Promise<void>;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Runs a subscription in the background, recording what it delivers. */
function subscribe(store: EventStore, options: { from: SubscribeOptions['from']; filter: EventFilter }): RunningSubscriber {
  const controller = new AbortController();
  const events: RecordedEvent[] = [];
  const checkpoints: { position: Position; caughtUp: boolean }[] = [];
  let failure: unknown;
  const running = (async () => {
    for await (const message of store.subscribe({ ...options, signal: controller.signal })) {
      if (isCheckpoint(message)) checkpoints.push(message);
      else events.push(message);
    }
  })().catch((error: unknown) => (failure = error));
  const check = (ok: () => boolean) => () => {
    if (failure) throw failure;
    return ok();
  };
  return {
    events,
    checkpoints,
    caughtUp: () => eventually(check(() => checkpoints.some((c) => c.caughtUp)), 10_000, 'the subscription to catch up'),
    waitFor: (count, timeoutMs = 10_000) => eventually(check(() => events.length >= count), timeoutMs, `${count} events (have ${events.length})`),
    stop: async () => {
      controller.abort();
      await running;
      if (failure) throw failure;
    },
  };
}
