import { expect } from 'chai';
import { START } from '@eventstore/db-client';
import { fromToken, toToken } from '../../src/eventstore/eventstoredb/positions.js';
import { InvalidInputError } from '../../src/eventstore/errors.js';
import { START_POSITION, comparePositions } from '../../src/eventstore/position.js';

describe('EventStoreDB positions as tokens', () => {
  it('keeps commit and prepare, and orders tokens as positions', () => {
    // A catch-up checkpoint just before the event at (1_500, 1_500), then two events of one
    // explicit transaction: they share a commit position and differ in prepare.
    const positions = [
      { commit: 1_142n, prepare: 1_142n },
      { commit: 1_500n, prepare: 0n },
      { commit: 1_500n, prepare: 1_500n },
      { commit: 2_000n, prepare: 1_500n },
      { commit: 2_000n, prepare: 1_700n },
      { commit: 2n ** 40n, prepare: 3n },
      // The server's positions are byte offsets in its log: both stay below 2^63, as every token's halves must.
      { commit: 2n ** 63n - 1n, prepare: 2n ** 63n - 1n },
    ];
    const tokens = positions.map(toToken);
    expect(new Set(tokens).size).to.equal(positions.length);
    for (let i = 1; i < tokens.length; i++) expect(comparePositions(tokens[i - 1]!, tokens[i]!)).to.equal(-1);
    expect(tokens.map((token) => fromToken(token, 'from'))).to.deep.equal(positions);
  });

  it('refuses a position beyond 2^63 - 1, which no token can hold', () => {
    expect(() => toToken({ commit: 2n ** 63n, prepare: 0n })).to.throw(RangeError);
  });

  it('reads the start token as the start of the log', () => {
    expect(fromToken(START_POSITION, 'from')).to.equal(START);
  });

  it('rejects what is not a token, naming the field', () => {
    for (const bad of ['12', 'yesterday', 'G'.repeat(32), START_POSITION.toUpperCase() + '0']) {
      expect(() => fromToken(bad, 'from')).to.throw(InvalidInputError).with.property('field', 'from');
    }
  });
});
