import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { eventIdsFromKey } from '../../src/commands/event-ids.js';
import { StreamStates, handleCommand, loadStream } from '../../src/commands/handle-command.js';
import { SnapshotWriter } from '../../src/commands/snapshots.js';
import { silentLogger } from '../../src/platform/logger.js';
import { GENESIS_HASH, eventHash } from '../../src/commands/hash-chain.js';
import { dealDecider, type DealCommand } from '../../src/domain/deals/deal.decider.js';
import { ConcurrencyError, DomainError } from '../../src/domain/shared/errors.js';
import type { CommandMetadata } from '../../src/domain/shared/event.js';
import type { EventStore, RecordedEvent } from '../../src/eventstore/contract.js';
import { collect, patient, rejectionOf } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TEST_EVENT_STORE, countingStreamReads, startTestEventStore, type TestEventStore } from '../support/event-store.js';

const meta = (): CommandMetadata => ({ actor: { kind: 'user', id: 'u-ana' }, now: new Date().toISOString(), correlationId: randomUUID(), causationId: randomUUID() });
const create = (dealId: string): DealCommand => ({
  type: 'CreateDeal',
  data: { dealId, name: 'Acme', company: 'Acme Ltd', amount: { amount: '100.00', currency: 'EUR' }, ownerId: 'u-ana', tags: [] },
  metadata: meta(),
});
const note = (text: string): DealCommand => ({ type: 'AddDealNote', data: { noteId: randomUUID(), text }, metadata: meta() });

describe('handleCommand (load, decide, append)', () => {
  let db: TestDatabase;
  let testStore: TestEventStore;
  let store: EventStore;

  before(async () => {
    db = await createTestDatabase();
    testStore = await startTestEventStore(db.url);
    store = testStore.store;
  });
  after(async () => {
    await testStore.close();
    await db.drop();
  });

  const stage = (to: 'screening' | 'won'): DealCommand => ({ type: 'ChangeDealStage', data: { to }, metadata: meta() });
  const newDeal = () => {
    const id = randomUUID();
    return { id, stream: `deal-${id}` };
  };
  const read = (stream: string) => collect(store.readStream(stream));

  /** Recomputes every link of a stream's hash chain. */
  function assertChain(events: RecordedEvent[]): void {
    let prevHash = GENESIS_HASH;
    for (const event of events) {
      expect(event.metadata.prevHash, `prevHash at ${event.revision}`).to.equal(prevHash);
      expect(event.metadata.hash, `hash at ${event.revision}`).to.equal(eventHash(prevHash, event));
      prevHash = event.metadata.hash as string;
    }
  }

  it('appends the decided events, chained from the genesis hash, and answers revision and position', async () => {
    const { id, stream } = newDeal();
    const created = await handleCommand(store, stream, dealDecider, create(id));
    expect(created.revision).to.equal(0n);
    const moved = await handleCommand(store, stream, dealDecider, stage('screening'));
    expect(moved.revision).to.equal(1n);
    const events = await read(stream);
    expect(events.map((e) => e.type)).to.deep.equal(['DealCreated', 'DealStageChanged']);
    expect(events[1]!.position).to.equal(moved.position);
    expect(events[0]!.metadata).to.include({ schemaVersion: 1 }).and.have.property('actor');
    assertChain(events);
  });

  it('detects an edited event through the chain', async () => {
    const { id, stream } = newDeal();
    await handleCommand(store, stream, dealDecider, create(id));
    const [event] = await read(stream);
    expect(eventHash(GENESIS_HASH, { ...event!, data: { ...event!.data, amount: { amount: '1.00', currency: 'EUR' } } })).not.to.equal(event!.metadata.hash);
  });

  it('writes nothing when the domain refuses', async () => {
    const { id, stream } = newDeal();
    await handleCommand(store, stream, dealDecider, create(id));
    const error = await rejectionOf(handleCommand(store, stream, dealDecider, stage('won')));
    expect(error).to.be.instanceOf(DomainError).and.include({ code: 'DEAL.WON_ONLY_FROM_CLOSING', status: 409 });
    expect(await read(stream)).to.have.length(1);
  });

  it('appends nothing when nothing changes, and still answers where the stream is', async () => {
    const { id, stream } = newDeal();
    const created = await handleCommand(store, stream, dealDecider, create(id));
    const same = await handleCommand(store, stream, dealDecider, { type: 'AssignDealOwner', data: { ownerId: 'u-ana' }, metadata: meta() });
    expect(same).to.deep.include({ revision: 0n, position: created.position, events: [] });
  });

  it('answers a stale If-Match with a ConcurrencyError (412) and writes nothing', async () => {
    const { id, stream } = newDeal();
    await handleCommand(store, stream, dealDecider, create(id));
    await handleCommand(store, stream, dealDecider, note('first'));
    const error = await rejectionOf(handleCommand(store, stream, dealDecider, note('stale'), { expectedRevision: 0n }));
    expect(error).to.be.instanceOf(ConcurrencyError).and.include({ status: 412, expected: 0n, actual: 1n });
    const ok = await handleCommand(store, stream, dealDecider, note('fresh'), { expectedRevision: 1n });
    expect(ok.revision).to.equal(2n);
    expect((await read(stream)).map((e) => e.data.text)).to.deep.equal([undefined, 'first', 'fresh']);
  });

  it('loses no update when 50 commands hit one deal at once', async () => {
    const { id, stream } = newDeal();
    await handleCommand(store, stream, dealDecider, create(id));
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => handleCommand(store, stream, dealDecider, note(`note ${i}`))));
    const landed = outcomes.filter((o) => o.status === 'fulfilled');
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).to.be.instanceOf(DomainError).and.include({ code: 'STREAM.CONTENDED' });
    const events = await read(stream);
    expect(events).to.have.length(1 + landed.length);
    // The guarantee is no lost update; how many land depends on the load on the machine. But a
    // command gives up only after each of its 10 attempts lost to another command landing meanwhile.
    expect(landed.length, 'a command gave up with fewer than 10 others landed').to.be.at.least(10);
    expect(new Set(events.slice(1).map((e) => e.data.text)).size).to.equal(landed.length);
    assertChain(events);
  });

  it('recognises a repeated command by the ids derived from its idempotency key', async () => {
    const { id, stream } = newDeal();
    await handleCommand(store, stream, dealDecider, create(id));
    const command = note('once');
    const ids = eventIdsFromKey('key-123', stream);
    const first = await handleCommand(store, stream, dealDecider, command, { eventIdFor: ids });
    await handleCommand(store, stream, dealDecider, note('in between'));
    const again = await handleCommand(store, stream, dealDecider, command, { eventIdFor: ids });
    expect(again.revision).to.equal(first.revision);
    expect(again.position).to.equal(first.position);
    expect((await read(stream)).map((e) => e.data.text)).to.deep.equal([undefined, 'once', 'in between']);
    expect(ids(0)).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(eventIdsFromKey('key-123', 'deal-other')(0)).not.to.equal(ids(0));
  });
});

describe('handleCommand with remembered stream states', () => {
  let db: TestDatabase;
  let testStore: TestEventStore;
  let store: EventStore;
  let reads: string[];
  let eventsRead: { count: number };
  /** The real store, noting which streams are read, and how many events. */
  let counted: EventStore;

  before(async () => {
    db = await createTestDatabase();
    testStore = await startTestEventStore(db.url);
    store = testStore.store;
    ({ store: counted, reads, eventsRead } = countingStreamReads(store));
  });
  beforeEach(() => {
    reads.length = 0;
    eventsRead.count = 0;
  });
  after(async () => {
    await testStore.close();
    await db.drop();
  });

  const stage = (to: 'screening' | 'diligence' | 'lost', reason?: string): DealCommand => ({ type: 'ChangeDealStage', data: { to, ...(reason ? { reason } : {}) }, metadata: meta() });
  async function newDeal(known: StreamStates) {
    const id = randomUUID();
    const stream = `deal-${id}`;
    await handleCommand(counted, stream, dealDecider, create(id), { known });
    reads.length = 0;
    eventsRead.count = 0;
    return stream;
  }

  it('appends to a stream it wrote last without reading it, and chains the hashes as if it had', async () => {
    const known = new StreamStates();
    const stream = await newDeal(known);
    for (let i = 0; i < 5; i++) await handleCommand(counted, stream, dealDecider, note(`note ${i}`), { known });
    expect(reads).to.deep.equal([]);
    const events = await collect(store.readStream(stream));
    expect(events).to.have.length(6);
    for (let i = 1; i < events.length; i++) expect(events[i]!.metadata.prevHash).to.equal(events[i - 1]!.metadata.hash);
  });

  it('decides again on the stored stream when another writer moved it: a conflict, a refusal or a no-op', async () => {
    const known = new StreamStates();
    const stream = await newDeal(known);
    // Another process moves the deal on; this one still remembers it in sourcing.
    await handleCommand(store, stream, dealDecider, stage('screening'));
    const again = await rejectionOf(handleCommand(counted, stream, dealDecider, stage('screening'), { known }));
    expect(again).to.be.instanceOf(DomainError).and.include({ code: 'DEAL.STAGE_UNCHANGED' });
    expect(reads).to.deep.equal([stream]);

    // Remembered as lost here, reopened elsewhere: the refusal decided on memory is checked against the stream.
    const lost = await newDeal(known);
    await handleCommand(counted, lost, dealDecider, stage('lost', 'No budget'), { known });
    await handleCommand(store, lost, dealDecider, { type: 'ReopenDeal', data: { reason: 'Budget back' }, metadata: meta() });
    reads.length = 0;
    const moved = await handleCommand(counted, lost, dealDecider, stage('diligence'), { known });
    expect(moved.revision).to.equal(3n);
    expect(reads).to.deep.equal([lost]);
  });

  it('answers a stale If-Match with 412 even when the remembered revision matched it', async () => {
    const known = new StreamStates();
    const stream = await newDeal(known);
    await handleCommand(store, stream, dealDecider, note('elsewhere'));
    const error = await rejectionOf(handleCommand(counted, stream, dealDecider, note('pinned'), { known, expectedRevision: 0n }));
    expect(error).to.be.instanceOf(ConcurrencyError).and.include({ status: 412 });
    expect((await collect(store.readStream(stream))).map((e) => e.data.text)).to.deep.equal([undefined, 'elsewhere']);
  });

  it('takes all of 50 commands of one process on one stream at once: they take turns, none conflicts, none reads', async () => {
    const known = new StreamStates();
    const stream = await newDeal(known);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => handleCommand(counted, stream, dealDecider, note(`note ${i}`), { known })));
    expect(results.map((result) => result.revision)).to.deep.equal(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    expect((await collect(store.readStream(stream))).map((event) => event.data.text)).to.deep.equal([undefined, ...Array.from({ length: 50 }, (_, i) => `note ${i}`)]);
    expect(reads).to.deep.equal([]);
  });

  it("chains the next command from the stored events when its append was recognised as a twin's (same Idempotency-Key, another process)", async () => {
    const known = new StreamStates();
    const stream = await newDeal(known);
    const ids = eventIdsFromKey('twin-key', stream);
    // The twin, in another process, decides the same command after this one has read the stream
    // and stores it first: this append is recognised as a retry, but its events (other metadata,
    // other hashes) are not the ones stored.
    const twinFirst: EventStore = new Proxy(store, {
      get(target, property) {
        if (property === 'append') {
          return async (...args: Parameters<EventStore['append']>) => {
            await handleCommand(store, stream, dealDecider, note('twice'), { eventIdFor: ids });
            return target.append(...args);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const here = await handleCommand(twinFirst, stream, dealDecider, note('twice'), { eventIdFor: ids, known });
    expect(here.revision).to.equal(1n);
    await handleCommand(counted, stream, dealDecider, note('after'), { known });
    const events = await collect(store.readStream(stream));
    expect(events.map((event) => event.data.text)).to.deep.equal([undefined, 'twice', 'after']);
    for (let i = 1; i < events.length; i++) expect(events[i]!.metadata.prevHash, `prevHash at ${i}`).to.equal(events[i - 1]!.metadata.hash);
  });

  it('stores a keyed command once when its twin was stored after another writer moved the stream', async () => {
    const stream = await newDeal(new StreamStates());
    const ids = eventIdsFromKey('twin-key-2', stream);
    let raced = false;
    // After this command has read the stream: another note, then its twin, are stored first.
    const racing: EventStore = new Proxy(store, {
      get(target, property) {
        if (property === 'append') {
          return async (...args: Parameters<EventStore['append']>) => {
            if (!raced) {
              raced = true;
              await handleCommand(store, stream, dealDecider, note('other'));
              await handleCommand(store, stream, dealDecider, note('twice'), { eventIdFor: ids });
            }
            return target.append(...args);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const here = await handleCommand(racing, stream, dealDecider, note('twice'), { eventIdFor: ids });
    const events = await collect(store.readStream(stream));
    expect(events.map((event) => event.data.text)).to.deep.equal([undefined, 'other', 'twice']);
    expect(here.revision).to.equal(2n);
  });

  it('catches a stale state up by reading only what another process appended, however long the stream', async () => {
    const here = new StreamStates();
    const stream = await newDeal(here);
    for (let i = 0; i < 200; i++) await handleCommand(store, stream, dealDecider, note(`elsewhere ${i}`)); // another process, 200 events ahead
    await handleCommand(counted, stream, dealDecider, note('here'), { known: here });
    expect(eventsRead.count, 'only the 200 it missed').to.equal(200);
    // Two processes taking turns (a balancer alternating): each reads only the other's last event.
    const there = new StreamStates();
    await handleCommand(counted, stream, dealDecider, note('there'), { known: there }); // cold: reads it all once
    eventsRead.count = 0;
    for (let i = 0; i < 10; i++) {
      await handleCommand(counted, stream, dealDecider, note(`here ${i}`), { known: here });
      await handleCommand(counted, stream, dealDecider, note(`there ${i}`), { known: there });
    }
    expect(eventsRead.count).to.equal(20);
    const events = await collect(store.readStream(stream));
    expect(events).to.have.length(1 + 200 + 2 + 20);
    for (let i = 1; i < events.length; i++) expect(events[i]!.metadata.prevHash).to.equal(events[i - 1]!.metadata.hash);
  });
});

describe('handleCommand with snapshots and repeated commands', function () {
  this.timeout(patient(40_000)); // long streams, written one command at a time
  let db: TestDatabase;
  let testStore: TestEventStore;
  let store: EventStore;
  let eventsRead: { count: number };
  /** The real store, counting the events read from streams. */
  let counted: EventStore;
  const writer = () => new SnapshotWriter(10, silentLogger());

  before(async () => {
    db = await createTestDatabase();
    testStore = await startTestEventStore(db.url);
    store = testStore.store;
    ({ store: counted, eventsRead } = countingStreamReads(store));
  });
  after(async () => {
    await testStore.close();
    await db.drop();
  });

  async function dealWithNotes(notes: number, known?: StreamStates): Promise<string> {
    const id = randomUUID();
    const stream = `deal-${id}`;
    await handleCommand(store, stream, dealDecider, create(id), known ? { known } : {});
    for (let i = 0; i < notes; i++) await handleCommand(store, stream, dealDecider, note(`note ${i}`), known ? { known } : {});
    await known?.snapshots?.idle();
    return stream;
  }

  function assertChained(events: RecordedEvent[]): void {
    for (let i = 1; i < events.length; i++) expect(events[i]!.metadata.prevHash, `at ${i}`).to.equal(events[i - 1]!.metadata.hash);
  }

  it('lets a process new to a stream decide after reading at most N events, from the snapshot its writer left', async () => {
    const stream = await dealWithNotes(95, new StreamStates(writer()));
    expect(await store.readSnapshot(stream, 'deal', 1)).to.include({ revision: 89n });
    eventsRead.count = 0;
    const cold = new StreamStates();
    const result = await handleCommand(counted, stream, dealDecider, { type: 'ChangeDealStage', data: { to: 'screening' }, metadata: meta() }, { known: cold });
    expect(result.revision).to.equal(96n);
    expect(eventsRead.count, 'the events after the snapshot at 89').to.equal(6);
    assertChained(await collect(store.readStream(stream)));
  });

  it('snapshots a long stream from before snapshots once a process has read it all, and off its path', async () => {
    const stream = await dealWithNotes(60); // no writer: no snapshot
    expect(await store.readSnapshot(stream, 'deal', 1)).to.equal(undefined);
    const first = new StreamStates(writer());
    eventsRead.count = 0;
    await handleCommand(counted, stream, dealDecider, note('first'), { known: first });
    expect(eventsRead.count).to.equal(61);
    await first.snapshots!.idle();
    eventsRead.count = 0;
    await handleCommand(counted, stream, dealDecider, note('second'), { known: new StreamStates() });
    expect(eventsRead.count, 'at most the one appended after the snapshot').to.be.at.most(1);
    assertChained(await collect(store.readStream(stream)));
  });

  it('ignores a snapshot of another version of the state', async () => {
    const stream = await dealWithNotes(30, new StreamStates(writer()));
    expect(await store.readSnapshot(stream, 'deal', 1)).to.not.equal(undefined);
    const reshaped = { ...dealDecider, snapshot: { name: 'deal', version: 2 } };
    eventsRead.count = 0;
    await handleCommand(counted, stream, reshaped, note('new code'), { known: new StreamStates() });
    expect(eventsRead.count).to.equal(31);
  });

  it('folds the same state from a snapshot as from every event', async () => {
    const known = new StreamStates(new SnapshotWriter(1, silentLogger()));
    const id = randomUUID();
    const stream = `deal-${id}`;
    const commands: DealCommand[] = [
      create(id),
      { type: 'UpdateDeal', data: { name: 'Acme II', tags: ['big'] }, metadata: meta() },
      { type: 'ChangeDealStage', data: { to: 'screening' }, metadata: meta() },
      { type: 'ChangeDealStage', data: { to: 'lost', reason: 'No budget' }, metadata: meta() },
    ];
    for (const command of commands) {
      await handleCommand(store, stream, dealDecider, command, { known });
      await known.snapshots!.idle();
      const fromSnapshot = await loadStream(store, stream, dealDecider);
      const fromEvents = await loadStream(store, stream, { ...dealDecider, snapshot: undefined });
      expect(fromSnapshot, command.type).to.deep.equal(fromEvents);
    }
  });

  it('recognises a repeated command deep in a long stream without reading the stream', async () => {
    const writing = new StreamStates(writer());
    const stream = await dealWithNotes(5, writing);
    const command = note('once');
    const ids = eventIdsFromKey('key-deep', stream);
    const first = await handleCommand(store, stream, dealDecider, command, { eventIdFor: ids, known: writing });
    for (let i = 0; i < 150; i++) await handleCommand(store, stream, dealDecider, note(`later ${i}`), { known: writing });
    await writing.snapshots!.idle();
    eventsRead.count = 0;
    const again = await handleCommand(counted, stream, dealDecider, command, { eventIdFor: ids, known: new StreamStates() });
    expect(again).to.deep.include({ revision: first.revision, position: first.position });
    expect(again.events.map((event) => event.id)).to.deep.equal([ids(0)]);
    // What follows the latest snapshot (under 10), then the repeated event and the one after it.
    // PostgreSQL looks the id up; EventStoreDB reads back from the end to it (within its window).
    const lookup = TEST_EVENT_STORE === 'eventstoredb' ? 151 : 0;
    expect(eventsRead.count).to.be.at.most(10 + 2 + lookup);
    expect((await collect(store.readStream(stream))).filter((event) => event.data.text === 'once')).to.have.length(1);
  });

  it('stores a command once when two processes run it at once with the same key, whatever they remembered', async () => {
    for (let round = 0; round < 5; round++) {
      const here = new StreamStates();
      const there = new StreamStates();
      const id = randomUUID();
      const stream = `deal-${id}`;
      await handleCommand(store, stream, dealDecider, create(id), { known: here });
      await handleCommand(store, stream, dealDecider, note('seen by both'), { known: there });
      const command = note('once');
      const ids = eventIdsFromKey(`key-${round}`, stream);
      const [a, b] = await Promise.all([
        handleCommand(store, stream, dealDecider, command, { eventIdFor: ids, known: here }),
        handleCommand(store, stream, dealDecider, command, { eventIdFor: ids, known: there }),
      ]);
      expect(a.revision).to.equal(b.revision);
      const events = await collect(store.readStream(stream));
      expect(events.filter((event) => event.data.text === 'once'), `round ${round}`).to.have.length(1);
    }
  });
});
