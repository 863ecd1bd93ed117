import type { ExpectedRevision } from './contract.js';

export abstract class EventStoreError extends Error {
  abstract readonly code: string;
}

/** The stream was not at the expected revision; nothing of the append was stored. */
export class WrongExpectedRevisionError extends EventStoreError {
  override readonly name = 'WrongExpectedRevisionError';
  readonly code = 'EVENT_STORE.WRONG_EXPECTED_REVISION';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** The stream's current revision, or 'no_stream'. */
    readonly actual: bigint | 'no_stream',
  ) {
    super(`Stream ${streamId} was expected at ${String(expected)} but is at ${String(actual)}`);
  }
}

export class StreamNotFoundError extends EventStoreError {
  override readonly name = 'StreamNotFoundError';
  readonly code = 'EVENT_STORE.STREAM_NOT_FOUND';
  constructor(readonly streamId: string) {
    super(`Stream ${streamId} not found`);
  }
}

/**
 * The store did not answer an append, even after a few tries. The append may or may not have been
 * stored: trying it again with the same event ids is safe.
 */
export class EventStoreUnavailableError extends EventStoreError {
  override readonly name = 'EventStoreUnavailableError';
  readonly code = 'EVENT_STORE.UNAVAILABLE';
  constructor(
    readonly streamId: string,
    attempts: number,
    cause: unknown,
  ) {
    super(`The event store did not answer the append to ${streamId} (${attempts} attempts; last: ${(cause as Error)?.message ?? String(cause)})`, { cause });
  }
}

/** The request itself is wrong (a bad stream id, expected revision, event or position); nothing was written. */
export class InvalidInputError extends EventStoreError {
  override readonly name = 'InvalidInputError';
  readonly code = 'EVENT_STORE.INVALID_INPUT';
  constructor(
    /** Where the problem is, for example `events[2].data.amount`. */
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}
