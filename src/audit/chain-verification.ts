import { z } from 'zod';
import { GENESIS_HASH, eventHash } from '../commands/hash-chain.js';
import type { EventStore, RecordedEvent } from '../eventstore/contract.js';

/**
 * - `revision_gap`: a revision is missing (a deleted event); `revision` names it, `expected` is the
 *   hash the chain stood at, `found` the prevHash of the event stored next.
 * - `prev_hash_mismatch`: the event does not link to the one before (or to GENESIS_HASH).
 * - `hash_mismatch`: the event's content is not what its hash was computed over (it was edited).
 * - `missing_hash`: the event carries no hash although the chain runs through it.
 */
export const BreakReason = z.enum(['revision_gap', 'prev_hash_mismatch', 'hash_mismatch', 'missing_hash']);
export type BreakReason = z.infer<typeof BreakReason>;

export const BrokenLink = z.object({
  revision: z.string().describe('Where the chain breaks: a decimal string, revisions are 64-bit'),
  reason: BreakReason.describe('`revision_gap` (an event is missing), `prev_hash_mismatch` (it does not link to the one before), `hash_mismatch` (it was edited), `missing_hash`'),
  expected: z.string().nullable().describe('The hash the chain called for'),
  found: z.string().nullable().describe('The hash found instead'),
});
export type BrokenLink = z.infer<typeof BrokenLink>;

/**
 * Where a stream's verified chain ends. `hash` is null for an unchained stream: one whose first
 * event carries no hash metadata. Every append of this code base goes through handleCommand, which
 * chains every stream (worker-* included), so unchained streams are those written around it (a
 * bulk import, a seed): they are reported as unchained, neither valid nor broken.
 */
export interface ChainTip {
  revision: bigint;
  hash: string | null;
}

/** Checks the next event of a stream against where its chain stood (undefined: the stream's first event). */
export function checkLink(tip: ChainTip | undefined, event: RecordedEvent): { tip: ChainTip } | { broken: BrokenLink } {
  const { prevHash, hash } = event.metadata as { prevHash?: string; hash?: string };
  const expectedRevision = tip ? tip.revision + 1n : 0n;
  const expectedPrev = tip ? tip.hash : GENESIS_HASH;
  const broken = (revision: bigint, reason: BreakReason, expected: string | null, found: string | undefined) => ({
    broken: { revision: revision.toString(), reason, expected, found: found ?? null },
  });

  if (event.revision !== expectedRevision) return broken(expectedRevision, 'revision_gap', expectedPrev, prevHash);
  if (!tip && prevHash === undefined && hash === undefined) return { tip: { revision: event.revision, hash: null } };
  if (expectedPrev === null) {
    // An unchained stream that starts linking: the event before it names a hash it does not carry.
    if (prevHash === undefined) return { tip: { revision: event.revision, hash: null } };
    return broken(tip!.revision, 'missing_hash', prevHash, undefined);
  }
  if (prevHash !== expectedPrev) return broken(event.revision, 'prev_hash_mismatch', expectedPrev, prevHash);
  const computed = eventHash(expectedPrev, event);
  if (hash !== computed) return broken(event.revision, hash === undefined ? 'missing_hash' : 'hash_mismatch', computed, hash);
  return { tip: { revision: event.revision, hash } };
}

export const StreamVerification = z.object({
  streamId: z.string(),
  events: z.number().int().describe('Events in the stream'),
  chained: z.boolean().describe('False for a stream written around the commands (a seed, an import): its first event carries no hash'),
  valid: z.boolean().describe('Chained, and every link holds'),
  brokenLink: BrokenLink.optional().describe('The first broken link, when there is one'),
});
export type StreamVerification = z.input<typeof StreamVerification>;

/** Recomputes one stream's chain; reports the first broken link. Throws StreamNotFoundError for a stream without events. */
export async function verifyStream(store: EventStore, streamId: string): Promise<StreamVerification> {
  let tip: ChainTip | undefined;
  let brokenLink: BrokenLink | undefined;
  let events = 0;
  for await (const event of store.readStream(streamId)) {
    events++;
    if (brokenLink) continue;
    const link = checkLink(tip, event);
    if ('broken' in link) brokenLink = link.broken;
    else tip = link.tip;
  }
  const chained = brokenLink !== undefined || tip?.hash !== null;
  return { streamId, events, chained, valid: chained && !brokenLink, ...(brokenLink ? { brokenLink } : {}) };
}

export interface LogVerification {
  streams: number;
  events: number;
  broken: ({ streamId: string } & BrokenLink)[];
  unchained: string[];
}

/**
 * Recomputes every stream's chain in one read of the whole log, keeping each stream's tip in a map
 * (position order within a stream is revision order). Reports every broken stream's first break.
 */
export async function verifyLog(store: EventStore, onProgress?: (events: number) => void): Promise<LogVerification> {
  const tips = new Map<string, ChainTip | 'broken'>();
  const broken: LogVerification['broken'] = [];
  let events = 0;
  for await (const event of store.readAll()) {
    if (++events % 1000 === 0) onProgress?.(events);
    const tip = tips.get(event.streamId);
    if (tip === 'broken') continue;
    const link = checkLink(tip, event);
    if ('tip' in link) {
      tips.set(event.streamId, link.tip);
      continue;
    }
    tips.set(event.streamId, 'broken');
    broken.push({ streamId: event.streamId, ...link.broken });
  }
  onProgress?.(events);
  const unchained = [...tips].filter(([, tip]) => tip !== 'broken' && tip.hash === null).map(([streamId]) => streamId);
  return { streams: tips.size, events, broken, unchained };
}
