import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { ConcurrencyError, ContentionError } from '../domain/shared/errors.js';
import type { Decider, DomainEvent } from '../domain/shared/event.js';
import { upcast } from '../domain/upcasters.js';
import type { EventStore, JsonObject, Position, RecordedEvent } from '../eventstore/contract.js';
import { StreamNotFoundError, WrongExpectedRevisionError } from '../eventstore/errors.js';
import { GENESIS_HASH, chainEvents } from './hash-chain.js';
import { fromSnapshot, type Known, type SnapshotWriter } from './snapshots.js';

export interface CommandOptions {
  /** The revision the client saw (If-Match); any other is a ConcurrencyError (412), never a retry. */
  expectedRevision?: bigint | 'no_stream';
  /**
   * Event ids derived from an idempotency key: when the stream already holds the first of them,
   * the command has happened and its result is returned again, with nothing appended.
   */
  eventIdFor?: (index: number) => string;
  /** Attempts on a conflict when no revision is pinned. */
  maxAttempts?: number;
  /** Streams this process wrote last: a command on one skips reading it (see StreamStates). */
  known?: StreamStates;
}

export interface CommandResult<E> {
  /** The stream's revision after the command; null when the stream still has no events. */
  revision: bigint | null;
  /** Where the command's last event (or the stream's last, when nothing changed) sits in the log. */
  position: Position | null;
  /** The command's events with their ids (the stored ones when the command is replayed). */
  events: (E & { id: string })[];
}


/**
 * The state of the streams this process has written, as its appends left them, and a queue per
 * stream. Commands on one stream in this process run one after another, each deciding on the state
 * the last one left, so they never conflict with each other. If another process wrote meanwhile,
 * the append conflicts, and the state catches up by reading only the events after its revision.
 * A refusal or a no-op decided on a remembered state is checked the same way. A stream this process
 * has not seen starts from its latest snapshot, which `snapshots` keeps writing.
 */
export class StreamStates {
  private readonly states: LRUCache<string, Known<unknown>>;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    /** Writes snapshots of the states this process folds; without it, this process only reads them. */
    readonly snapshots?: SnapshotWriter,
    max = 10_000,
  ) {
    this.states = new LRUCache({ max });
  }

  get<S>(streamId: string): Known<S> | undefined {
    return this.states.get(streamId) as Known<S> | undefined;
  }

  set<S>(streamId: string, known: Known<S>): void {
    this.states.set(streamId, known);
  }

  forget(streamId: string): void {
    this.states.delete(streamId);
  }

  /** Runs `work` after every earlier work on the stream has settled; the queue goes when it empties. */
  inTurn<T>(streamId: string, work: () => Promise<T>): Promise<T> {
    const before = this.queues.get(streamId) ?? Promise.resolve();
    const turn = before.then(work, work);
    const tail = turn.catch(() => undefined);
    this.queues.set(streamId, tail);
    void tail.then(() => {
      if (this.queues.get(streamId) === tail) this.queues.delete(streamId);
    });
    return turn;
  }
}

/**
 * Load the stream, fold `evolve`, `decide`, append at the loaded revision with the hash chain.
 * With `known`, commands on one stream take turns in this process, and a remembered state is used
 * and brought up to date by reading only what it missed. On a conflict the command is decided
 * again on the state caught up, a bounded number of times.
 */
export function handleCommand<C, E extends DomainEvent, S>(
  store: EventStore,
  streamId: string,
  decider: Decider<C, E, S>,
  command: C,
  options: CommandOptions = {},
): Promise<CommandResult<E>> {
  const { known } = options;
  const run = () => decideAndAppend(store, streamId, decider, command, options);
  return known ? known.inTurn(streamId, run) : run();
}

async function decideAndAppend<C, E extends DomainEvent, S>(
  store: EventStore,
  streamId: string,
  decider: Decider<C, E, S>,
  command: C,
  options: CommandOptions,
): Promise<CommandResult<E>> {
  const maxAttempts = options.maxAttempts ?? 10;
  const { known, eventIdFor } = options;
  let loaded: Known<S> | undefined = known?.get<S>(streamId);
  /** Whether `loaded` is the stream as stored a moment ago, not as this process last left it. */
  let fresh = false;
  /** Whether the command may have been stored since it was last looked for (by another try of it). */
  let lookForRepeat = eventIdFor !== undefined;
  const refresh = async () => {
    loaded = await catchUp(store, streamId, decider, loaded!, known);
    fresh = true;
    lookForRepeat = eventIdFor !== undefined; // what it missed may be another try of this command
  };
  for (let attempt = 1; ; attempt++) {
    if (!loaded) {
      loaded = await loadStream(store, streamId, decider, known);
      fresh = true;
    }
    // A repeated command is found by its first event's id, wherever it sits in the stream. Looked
    // for after the load: a twin stored before it is found here, one stored after makes the append
    // conflict, and the catch-up then looks again.
    if (lookForRepeat) {
      const replayed = await findRepeat<E>(store, streamId, eventIdFor!);
      if (replayed) return replayed;
      lookForRepeat = false;
    }
    // Decided on a remembered state, a pinned revision that differs, a refusal or a no-op may only
    // mean the state is behind: read what it missed and decide once more (no conflict, no attempt).
    let decided: E[] | undefined;
    let refused: unknown;
    if (options.expectedRevision === undefined || options.expectedRevision === loaded.revision) {
      try {
        decided = decider.decide(command, loaded.state);
      } catch (error) {
        refused = error;
      }
    }
    if (!fresh && (decided === undefined || decided.length === 0)) {
      await refresh();
      attempt--;
      continue;
    }
    if (refused !== undefined) throw refused;
    if (decided === undefined) throw new ConcurrencyError(options.expectedRevision!, loaded.revision);
    if (decided.length === 0) return { revision: loaded.revision === 'no_stream' ? null : loaded.revision, position: loaded.position, events: [] };

    const events = chainEvents(
      streamId,
      loaded.lastHash,
      decided.map((event, i) => ({ ...event, id: eventIdFor?.(i) ?? randomUUID() })),
    );
    try {
      const result = await store.append(
        streamId,
        events.map(({ id, type, data, metadata }) => ({ id, type, data: data as JsonObject, metadata: metadata as unknown as JsonObject })),
        { expectedRevision: loaded.revision },
      );
      if (known) {
        // With derived ids, the store may have taken this append for a retry of a twin's (the same
        // Idempotency-Key in another process) stored first, with other metadata and so other
        // hashes: what is remembered is then read back, never assumed.
        const after: Known<S> = eventIdFor
          ? await catchUp(store, streamId, decider, loaded)
          : { state: decided.reduce(decider.evolve, loaded.state), revision: result.nextRevision, lastHash: events.at(-1)!.metadata.hash, position: result.position };
        known.set<S>(streamId, after);
        known.snapshots?.consider(store, streamId, decider, loaded.revision, after, events.length);
      }
      return { revision: result.nextRevision, position: result.position, events };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) {
        known?.forget(streamId); // whether the append was stored is unknown: read the stream next time
        throw error;
      }
      if (options.expectedRevision !== undefined) throw new ConcurrencyError(options.expectedRevision, error.actual);
      if (attempt >= maxAttempts) {
        known?.forget(streamId);
        throw new ContentionError(`${streamId} changed under ${attempt} attempts in a row; try again`);
      }
      // Another process wrote: catch up with what it wrote (only that) and decide again, after a
      // backoff with full jitter that spreads writers colliding across processes.
      await sleep(Math.random() * Math.min(200, 4 * 2 ** attempt));
      await refresh();
    }
  }
}

/**
 * A known state brought up to date: the events after its revision folded in (none read when it is
 * current). With `known`, a long fold is snapshotted, off the caller's path.
 */
export async function catchUp<C, E extends DomainEvent, S>(
  store: EventStore,
  streamId: string,
  decider: Decider<C, E, S>,
  from: Known<S>,
  known?: StreamStates,
): Promise<Known<S>> {
  let { state, revision, lastHash, position } = from;
  let folded = 0;
  try {
    for await (const event of store.readStream(streamId, { fromRevision: revision === 'no_stream' ? 'start' : revision + 1n })) {
      state = decider.evolve(state, upcast(event) as unknown as E);
      revision = event.revision;
      lastHash = (event.metadata.hash as string | undefined) ?? lastHash;
      position = event.position;
      folded++;
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  const caughtUp = { state, revision, lastHash, position };
  if (folded > 0) known?.snapshots?.consider(store, streamId, decider, from.revision, caughtUp, folded);
  return caughtUp;
}

/**
 * A stream's state and where it stands: this process's remembered state or the latest snapshot,
 * brought up to date, else every event folded with the decider's `evolve`.
 */
export async function loadStream<C, E extends DomainEvent, S>(store: EventStore, streamId: string, decider: Decider<C, E, S>, known?: StreamStates): Promise<Known<S>> {
  const start = known?.get<S>(streamId) ?? (await fromSnapshot(store, streamId, decider)) ?? { state: decider.initialState, revision: 'no_stream', lastHash: GENESIS_HASH, position: null };
  return catchUp(store, streamId, decider, start, known);
}

/** The earlier result of a command whose derived event ids are already stored in the stream. */
async function findRepeat<E>(store: EventStore, streamId: string, eventIdFor: (index: number) => string): Promise<CommandResult<E> | undefined> {
  const first = await store.findEvent(streamId, eventIdFor(0));
  if (!first) return undefined;
  const events: RecordedEvent[] = [];
  for await (const event of store.readStream(streamId, { fromRevision: first.revision })) {
    if (event.id !== eventIdFor(events.length)) break;
    events.push(upcast(event)); // answered in the current shape, as a first run would have decided it
  }
  const last = events.at(-1)!;
  return { revision: last.revision, position: last.position, events: events as unknown as (E & { id: string })[] };
}
