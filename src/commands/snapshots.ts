import type { SnapshotPolicy } from '../domain/shared/event.js';
import type { EventStore, JsonObject, Position } from '../eventstore/contract.js';
import type { Logger } from '../platform/logger.js';

/** Where a stream stands: its folded state, revision, last hash and position. */
export interface Known<S> {
  state: S;
  revision: bigint | 'no_stream';
  lastHash: string;
  position: Position | null;
}
/** Events a cold reader may have to fold after the latest snapshot (SNAPSHOT_EVERY). */
export const DEFAULT_SNAPSHOT_EVERY = 100;

/** How often a failing snapshot write is logged: they are a cache, and a failure costs only longer reads. */
const FAILURE_LOG_INTERVAL_MS = 60_000;

/** A stream's known state from its latest snapshot, when the decider keeps them and one of its version exists. */
export async function fromSnapshot<S>(store: EventStore, streamId: string, decider: { snapshot?: SnapshotPolicy }): Promise<Known<S> | undefined> {
  if (!decider.snapshot) return undefined;
  const { name, version } = decider.snapshot;
  const snapshot = await store.readSnapshot(streamId, name, version);
  if (!snapshot) return undefined;
  const { state, lastHash } = snapshot.state as { state: S; lastHash: string };
  return { state, revision: snapshot.revision, lastHash, position: snapshot.position };
}

/**
 * Writes snapshots off the request path: when a stream's revision passes a multiple of `every`, or
 * a reader had to fold more than `every` events (a long stream from before snapshots). One write per
 * stream at a time; a failed one is logged once a minute and otherwise ignored.
 */
export class SnapshotWriter {
  private readonly writing = new Map<string, Promise<void>>();
  private lastFailureLog = 0;

  constructor(
    readonly every: number,
    private readonly logger: Logger,
  ) {}

  /** After `folded` events took a stream from revision `from` to `known`: snapshot it if due. */
  consider<S>(store: EventStore, streamId: string, decider: { snapshot?: SnapshotPolicy }, from: bigint | 'no_stream', known: Known<S>, folded: number): void {
    if (!decider.snapshot || known.revision === 'no_stream' || known.position === null || this.writing.has(streamId)) return;
    const every = BigInt(this.every);
    const crossed = from === 'no_stream' ? known.revision + 1n >= every : (known.revision + 1n) / every > (from + 1n) / every;
    if (!crossed && folded <= this.every) return;
    const { name, version } = decider.snapshot;
    const snapshot = { name, version, revision: known.revision, position: known.position, state: { state: known.state, lastHash: known.lastHash } as unknown as JsonObject };
    const write = store
      .writeSnapshot(streamId, snapshot)
      .catch((error: Error) => this.failed(streamId, error))
      .finally(() => this.writing.delete(streamId));
    this.writing.set(streamId, write);
  }

  /** Settles when the writes in hand have (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all(this.writing.values());
  }

  private failed(streamId: string, error: Error): void {
    if (Date.now() - this.lastFailureLog < FAILURE_LOG_INTERVAL_MS) return;
    this.lastFailureLog = Date.now();
    this.logger.warn('could not write a snapshot; commands read more events until one is written', { streamId, error: error.message });
  }
}
