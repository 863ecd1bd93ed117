import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { DomainEvent } from '../domain/shared/event.js';
import { InvalidInputError } from '../eventstore/errors.js';
import { findUnstorable } from '../eventstore/validation.js';

/** The prevHash of a stream's first event. */
export const GENESIS_HASH = '0'.repeat(64);

export interface ChainedMetadata {
  prevHash: string;
  hash: string;
}

/**
 * Tamper evidence: hash = SHA-256(prevHash + canonical JSON (RFC 8785) of the event's id, stream,
 * type, data and metadata without `hash`). Editing, removing or reordering a stored event breaks
 * the chain from there on. What the store would refuse is refused first (InvalidInputError), since
 * canonicalisation recurses: data from anywhere (an executor's answer, say) never overflows the stack.
 */
export function eventHash(prevHash: string, event: { id: string; streamId: string; type: string; data: unknown; metadata: object }): string {
  const { hash: _omitted, ...metadata } = event.metadata as { hash?: string };
  for (const [field, value] of [['data', event.data], ['metadata', metadata]] as const) {
    const problem = findUnstorable(value);
    if (problem) throw new InvalidInputError(field + problem.path, problem.reason);
  }
  const canonical = canonicalize({ id: event.id, streamId: event.streamId, type: event.type, data: event.data, metadata: { ...metadata, prevHash } });
  return createHash('sha256').update(prevHash).update(canonical ?? '').digest('hex');
}

/** Links new events to the stream's last hash; returns them with prevHash and hash in their metadata. */
export function chainEvents<E extends DomainEvent>(
  streamId: string,
  lastHash: string,
  events: readonly (E & { id: string })[],
): (E & { id: string; metadata: E['metadata'] & ChainedMetadata })[] {
  let prevHash = lastHash;
  return events.map((event) => {
    const hash = eventHash(prevHash, { ...event, streamId });
    const chained = { ...event, metadata: { ...event.metadata, prevHash, hash } };
    prevHash = hash;
    return chained;
  });
}
