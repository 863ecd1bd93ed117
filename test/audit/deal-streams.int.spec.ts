import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { EventStore } from '../../src/eventstore/contract.js';
import { DealStreams } from '../../src/audit/deal-streams.js';
import { collect } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { countingStreamReads, startTestEventStore, type TestEventStore } from '../support/event-store.js';

describe('audit: which streams concern a deal', () => {
  let db: TestDatabase;
  let testStore: TestEventStore;
  let reads: string[];
  /** The real store, noting which streams are read. */
  let counted: EventStore;

  before(async () => {
    db = await createTestDatabase();
    testStore = await startTestEventStore(db.url);
    ({ store: counted, reads } = countingStreamReads(testStore.store));
  });
  beforeEach(() => {
    reads.length = 0;
  });
  after(async () => {
    await testStore.close();
    await db.drop();
  });

  it("reads a stream's first event once per store, not once per request (pages of one deal, or other deals)", async () => {
    const [dealId, otherDeal, actionId] = [randomUUID(), randomUUID(), randomUUID()];
    const stream = `action-${actionId}`;
    await testStore.store.append(stream, [
      { type: 'ActionProposed', data: { actionId, dealId } },
      { type: 'ActionApproved', data: { actionId } },
    ], { expectedRevision: 'no_stream' });
    const [, approved] = await collect(testStore.store.readStream(stream));

    expect(await new DealStreams(counted, dealId).includes(approved!)).to.equal(true);
    expect(await new DealStreams(counted, dealId).includes(approved!)).to.equal(true);
    expect(await new DealStreams(counted, otherDeal).includes(approved!)).to.equal(false);
    expect(reads).to.deep.equal([stream]);
  });
});
