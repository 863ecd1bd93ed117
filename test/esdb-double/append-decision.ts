/** An expected revision as the client sends it: `any`, `no_stream`, `stream_exists` or an exact revision. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export type AppendDecision =
  | { kind: 'write' }
  /** A retry of an append already stored at indexes first..last of the stream: store nothing. */
  | { kind: 'idempotent'; first: number; last: number }
  | { kind: 'wrong_expected_version' };

/**
 * What EventStoreDB decides for an append (IndexWriter.CheckCommit): write it, recognise a retry of
 * one already stored (the same event ids, in order, right after the expected revision), or refuse
 * it. A retry that matches only in part is refused, as the server refuses "corrupted idempotency".
 * With `any` (and `stream_exists` once the stream exists) the place of a retry is wherever the
 * first event id already sits in the stream.
 */
export function decideAppend(stream: readonly { id: string }[], expected: ExpectedRevision, ids: readonly string[]): AppendDecision {
  const lastRevision = BigInt(stream.length - 1); // -1: no stream
  switch (expected) {
    case 'any':
      return retryAt(stream, ids, ids.length === 0 ? -1 : stream.findIndex((event) => event.id === ids[0])) ?? { kind: 'write' };
    case 'stream_exists':
      return stream.length === 0 ? { kind: 'wrong_expected_version' } : decideAppend(stream, 'any', ids);
    case 'no_stream':
      return stream.length === 0 ? { kind: 'write' } : (retryAt(stream, ids, 0) ?? { kind: 'wrong_expected_version' });
    default:
      if (expected === lastRevision) return { kind: 'write' };
      if (expected > lastRevision) return { kind: 'wrong_expected_version' };
      return retryAt(stream, ids, Number(expected) + 1) ?? { kind: 'wrong_expected_version' };
  }
}

/** Whether `ids` are already stored from index `first` on; undefined when there is nothing to compare. */
function retryAt(stream: readonly { id: string }[], ids: readonly string[], first: number): AppendDecision | undefined {
  if (ids.length === 0 || first < 0 || first >= stream.length) return undefined;
  const matches = ids.every((id, offset) => stream[first + offset]?.id === id);
  return matches ? { kind: 'idempotent', first, last: first + ids.length - 1 } : { kind: 'wrong_expected_version' };
}
