import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { ConcurrencyError, ContentionError } from '../domain/shared/errors.js';
import type { Decider, DomainEvent } from '../domain/shared/event.js';
import { upcast } from '../domain/upcasters.js';
import type { EventStore, JsonObject, Position, RecordedEvent } from '../eventstore/contract.js';
import { StreamNotFoundError, WrongExpectedRevisionError } from '../eventstore/errors.js';
import { GENESIS_HASH, chainEvents } from './hash-chain.js';

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

export interface Loaded<S> extends Known<S> {
  history: RecordedEvent[];
}

/** Where a stream stands: its folded state, revision, last hash and position. */
export interface Known<S> {
  state: S;
  revision: bigint | 'no_stream';
  lastHash: string;
  position: Position | null;
}

/**
 * The state of the streams this process has written, as its appends left them, and a queue per
 * stream. Commands on one stream in this process run one after another, each deciding on the state
 * the last one left, so they never conflict with each other. If another process wrote meanwhile,
 * the append conflicts, and the state catches up by reading only the events after its revision.
 * A refusal or a no-op decided on a remembered state is checked the same way.
 */
export class StreamStates {
  private readonly states: LRUCache<string, Known<unknown>>;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(max = 10_000) {
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
  const { known } = options;
  // A repeated command is recognised in the stream's whole history, so it reads the stream.
  let loaded: Known<S> | undefined = options.eventIdFor ? undefined : known?.get<S>(streamId);
  /** Whether `loaded` is the stream as stored a moment ago, not as this process last left it. */
  let fresh = false;
  const refresh = async () => {
    loaded = await catchUp(store, streamId, decider, loaded!);
    fresh = true;
  };
  for (let attempt = 1; ; attempt++) {
    if (!loaded) {
      const history = await loadStream(store, streamId, decider);
      const replayed = options.eventIdFor && replay<E>(history.history, options.eventIdFor);
      if (replayed) return replayed;
      loaded = history;
      fresh = true;
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
      decided.map((event, i) => ({ ...event, id: options.eventIdFor?.(i) ?? randomUUID() })),
    );
    try {
      const result = await store.append(
        streamId,
        events.map(({ id, type, data, metadata }) => ({ id, type, data: data as JsonObject, metadata: metadata as unknown as JsonObject })),
        { expectedRevision: loaded.revision },
      );
      known?.set<S>(streamId, {
        state: decided.reduce(decider.evolve, loaded.state),
        revision: result.nextRevision,
        lastHash: events.at(-1)!.metadata.hash,
        position: result.position,
      });
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

/** A known state brought up to date: the events after its revision folded in (none read when it is current). */
export async function catchUp<C, E extends DomainEvent, S>(store: EventStore, streamId: string, decider: Decider<C, E, S>, known: Known<S>): Promise<Known<S>> {
  let { state, revision, lastHash, position } = known;
  try {
    for await (const event of store.readStream(streamId, { fromRevision: revision === 'no_stream' ? 'start' : revision + 1n })) {
      state = decider.evolve(state, upcast(event) as unknown as E);
      revision = event.revision;
      lastHash = (event.metadata.hash as string | undefined) ?? lastHash;
      position = event.position;
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  return { state, revision, lastHash, position };
}

/** A stream's state and where it stands, folded with the decider's `evolve`. */
export async function loadStream<C, E extends DomainEvent, S>(store: EventStore, streamId: string, decider: Decider<C, E, S>): Promise<Loaded<S>> {
  const history: RecordedEvent[] = [];
  try {
    // In the current shape: the fold below and the replay of a repeated command read these.
    for await (const event of store.readStream(streamId)) history.push(upcast(event));
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  const last = history.at(-1);
  return {
    state: history.reduce((state, event) => decider.evolve(state, event as unknown as E), decider.initialState),
    revision: last ? last.revision : 'no_stream',
    lastHash: (last?.metadata.hash as string | undefined) ?? GENESIS_HASH,
    position: last?.position ?? null,
    history,
  };
}

/** The earlier result of a command whose derived event ids are already stored in the stream. */
function replay<E>(history: RecordedEvent[], eventIdFor: (index: number) => string): CommandResult<E> | undefined {
  const start = history.findIndex((event) => event.id === eventIdFor(0));
  if (start === -1) return undefined;
  let count = 1;
  while (history[start + count]?.id === eventIdFor(count)) count++;
  const events = history.slice(start, start + count);
  const last = events.at(-1)!;
  return { revision: last.revision, position: last.position, events: events as unknown as (E & { id: string })[] };
}
