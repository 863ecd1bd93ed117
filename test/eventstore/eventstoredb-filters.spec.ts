import { expect } from 'chai';
import { EVENT_TYPE, STREAM_NAME } from '@eventstore/db-client';
import type { EventFilter } from '../../src/eventstore/contract.js';
import { isHiddenStream, serverFilter } from '../../src/eventstore/eventstoredb/filters.js';
import { matchesFilter } from '../../src/eventstore/filter.js';

const events = [
  { streamId: 'deal-1', type: 'DealCreated' },
  { streamId: 'deal-1-x', type: 'DealStageChanged' },
  { streamId: 'deal', type: 'DealCreated' },
  { streamId: 'dealer-1', type: 'DealCreated' },
  { streamId: 'a.b-1', type: 'A.B' },
  { streamId: 'axb-1', type: 'AxB' },
  { streamId: 'action-7', type: 'ActionApproved' },
  { streamId: '$stats-127.0.0.1:2113', type: '$statsCollected' },
  { streamId: '$$deal-1', type: '$metadata' },
  { streamId: 'snapshot-deal.v1-deal-1', type: 'Snapshot' },
];

/** What the server would pass: its regex over the stream name or the event type. */
function passedByServer(filter: EventFilter | undefined): string[] {
  const { filterOn, regex } = serverFilter(filter);
  const pattern = new RegExp(regex);
  return events.filter((event) => pattern.test(filterOn === STREAM_NAME ? event.streamId : event.type)).map((event) => event.streamId + ' ' + event.type);
}

function matching(filter: EventFilter | undefined): string[] {
  return events.filter((event) => !isHiddenStream(event.streamId) && matchesFilter(event, filter)).map((event) => event.streamId + ' ' + event.type);
}

describe('EventStoreDB server-side filters', () => {
  it('leaves out only system and snapshot streams when there is no filter', () => {
    expect(serverFilter(undefined).filterOn).to.equal(STREAM_NAME);
    expect(passedByServer(undefined)).to.deep.equal(matching(undefined));
  });

  it('matches categories exactly: the part before the first dash, or the whole id without one', () => {
    const filter = { categories: ['deal', 'a.b'] };
    expect(serverFilter(filter).filterOn).to.equal(STREAM_NAME);
    expect(passedByServer(filter)).to.deep.equal(['deal-1 DealCreated', 'deal-1-x DealStageChanged', 'deal DealCreated', 'a.b-1 A.B']);
    expect(passedByServer(filter)).to.deep.equal(matching(filter));
  });

  it('matches event types exactly, regex characters included', () => {
    const filter = { eventTypes: ['DealCreated', 'A.B'] };
    expect(serverFilter(filter).filterOn).to.equal(EVENT_TYPE);
    expect(passedByServer(filter)).to.deep.equal(matching(filter));
  });

  it('matches stream ids exactly', () => {
    const filter = { streamIds: ['deal-1', 'a.b-1'] };
    expect(passedByServer(filter)).to.deep.equal(['deal-1 DealCreated', 'a.b-1 A.B']);
  });

  it('sends the most selective list to the server and passes a superset of what matches', () => {
    const combined: EventFilter[] = [
      { categories: ['deal'], eventTypes: ['DealCreated'] },
      { categories: ['deal'], streamIds: ['deal-1', 'action-7'] },
      { eventTypes: ['DealCreated'], streamIds: ['deal'] },
    ];
    expect(serverFilter(combined[0]).filterOn).to.equal(EVENT_TYPE);
    expect(serverFilter(combined[1]).regex).to.equal('^(?:deal-1|action-7)$');
    for (const filter of combined) {
      const passed = passedByServer(filter);
      expect(passed).to.include.members(matching(filter));
    }
    expect(matching(combined[0])).to.deep.equal(['deal-1 DealCreated', 'deal DealCreated']);
  });

  it('lets nothing through for an empty list, as the contract reads one', () => {
    for (const filter of [{ categories: [] }, { eventTypes: [] }, { streamIds: [] }]) {
      expect(passedByServer(filter)).to.deep.equal([]);
      expect(matching(filter)).to.deep.equal([]);
    }
  });
});
