import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { checkLink, type ChainTip } from '../../src/audit/chain-verification.js';
import { GENESIS_HASH, chainEvents, eventHash } from '../../src/commands/hash-chain.js';
import type { JsonObject, RecordedEvent } from '../../src/eventstore/contract.js';

const streamId = `deal-${randomUUID()}`;
const metadata = { actor: { kind: 'user' as const, id: 'ana' }, correlationId: 'c', causationId: 'c', occurredAt: '2026-01-01T00:00:00.000Z', schemaVersion: 1 };

/** A chained stream of `count` notes, as handleCommand would store it. */
function chainedStream(count: number): RecordedEvent[] {
  const events = Array.from({ length: count }, (_, n) => ({ id: randomUUID(), type: 'DealNoteAdded', data: { text: `note ${n}` }, metadata }));
  return chainEvents(streamId, GENESIS_HASH, events).map((event, n) => recorded(n, event.id, event.data, event.metadata as unknown as JsonObject));
}

function recorded(revision: number, id: string, data: JsonObject, meta: JsonObject): RecordedEvent {
  return { id, streamId, type: 'DealNoteAdded', revision: BigInt(revision), position: String(revision).padStart(32, '0'), data, metadata: meta, recordedAt: new Date() };
}

/** The first broken link of a stream, or its tip. */
function check(events: RecordedEvent[]) {
  let tip: ChainTip | undefined;
  for (const event of events) {
    const link = checkLink(tip, event);
    if ('broken' in link) return link.broken;
    tip = link.tip;
  }
  return tip;
}

describe('hash-chain verification of one stream', () => {
  it('accepts a chain as handleCommand writes it', () => {
    const events = chainedStream(4);
    expect(check(events)).to.deep.equal({ revision: 3n, hash: events[3]!.metadata.hash });
  });

  it('names an edited event: the hash its content gives, and the hash it carries', () => {
    const events = chainedStream(4);
    const edited = { ...events[2]!, data: { text: 'rewritten' } };
    expect(check([events[0]!, events[1]!, edited, events[3]!])).to.deep.equal({
      revision: '2', reason: 'hash_mismatch', expected: eventHash(events[1]!.metadata.hash as string, edited), found: events[2]!.metadata.hash,
    });
  });

  it('names a deleted event as a revision gap, with the hash the chain stood at and the prevHash found next', () => {
    const events = chainedStream(4);
    expect(check([events[0]!, events[2]!, events[3]!])).to.deep.equal({
      revision: '1', reason: 'revision_gap', expected: events[0]!.metadata.hash, found: events[2]!.metadata.prevHash,
    });
    expect(check(events.slice(1))).to.deep.include({ revision: '0', reason: 'revision_gap', expected: GENESIS_HASH });
  });

  it('names an event linked to another hash, and one that lost its hash', () => {
    const events = chainedStream(3);
    const relinked = { ...events[1]!, metadata: { ...events[1]!.metadata, prevHash: 'f'.repeat(64) } };
    expect(check([events[0]!, relinked])).to.deep.equal({ revision: '1', reason: 'prev_hash_mismatch', expected: events[0]!.metadata.hash, found: 'f'.repeat(64) });
    const { hash: _, ...unhashed } = events[1]!.metadata;
    expect(check([events[0]!, { ...events[1]!, metadata: unhashed }])).to.deep.include({ revision: '1', reason: 'missing_hash', found: null });
  });

  it('leaves a stream without hashes unchained, unless a later event links to a hash the one before lacks', () => {
    const plain = [0, 1, 2].map((n) => recorded(n, randomUUID(), { text: `note ${n}` }, metadata));
    expect(check(plain)).to.deep.equal({ revision: 2n, hash: null });
    const linked = { ...plain[2]!, metadata: { ...metadata, prevHash: 'a'.repeat(64), hash: 'b'.repeat(64) } };
    expect(check([plain[0]!, plain[1]!, linked])).to.deep.equal({ revision: '1', reason: 'missing_hash', expected: 'a'.repeat(64), found: null });
  });
});
