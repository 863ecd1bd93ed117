import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { ConcurrencyError, ContentionError } from '../domain/shared/errors.js';
import type { Decider, DomainEvent } from '../domain/shared/event.js';
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
 * The state of the streams this process has written, as its appends left them. A command on such a
 * stream decides on it and appends at once, without reading the stream; if another process wrote
 * meanwhile, the append conflicts and the command is decided again on the stream as stored. A
 * refusal or a no-op decided on a remembered state is checked against the stored stream too.
 */
export class StreamStates {
  private readonly states: LRUCache<string, Known<unknown>>;

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
}

/**
 * Load the stream, fold `evolve`, `decide`, append at the loaded revision with the hash chain.
 * On a conflict the command is decided again on the fresh state, a bounded number of times.
 */
export async function handleCommand<C, E extends DomainEvent, S>(
  store: EventStore,
  streamId: string,
  decider: Decider<C, E, S>,
  command: C,
  options: CommandOptions = {},
): Promise<CommandResult<E>> {
  const maxAttempts = options.maxAttempts ?? 10;
  const { known } = options;
  // A repeated command is recognised in the stream's history, so it always reads the stream.
  let read = Boolean(options.eventIdFor);
  for (let attempt = 1; ; attempt++) {
    const remembered = read ? undefined : known?.get<S>(streamId);
    const loaded: Known<S> = remembered ?? (await loadStream(store, streamId, decider));
    const replayed = options.eventIdFor && replay<E>((loaded as Loaded<S>).history, options.eventIdFor);
    if (replayed) return replayed;
    /** The remembered state may be behind: decide once more on the stream as stored. */
    const stale = () => {
      known!.forget(streamId);
      read = true;
      attempt--; // reading the stream is no conflict
    };
    if (options.expectedRevision !== undefined && options.expectedRevision !== loaded.revision) {
      if (remembered) {
        stale();
        continue;
      }
      throw new ConcurrencyError(options.expectedRevision, loaded.revision);
    }

    let decided: E[];
    try {
      decided = decider.decide(command, loaded.state);
    } catch (error) {
      if (!remembered) throw error;
      stale();
      continue;
    }
    const revision = loaded.revision === 'no_stream' ? null : loaded.revision;
    if (decided.length === 0) {
      if (!remembered) return { revision, position: loaded.position, events: [] };
      stale();
      continue;
    }

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
      known?.forget(streamId);
      read = true;
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (options.expectedRevision !== undefined) throw new ConcurrencyError(options.expectedRevision, error.actual);
      if (attempt >= maxAttempts) {
        throw new ContentionError(`${streamId} changed under ${attempt} attempts in a row; try again`);
      }
      // Exponential backoff with full jitter spreads the retries of writers that collided; it starts
      // near one read-decide-append cycle, so a burst of writers on one stream spreads out in time.
      await sleep(Math.random() * Math.min(200, 4 * 2 ** attempt));
    }
  }
}

/** A stream's state and where it stands, folded with the decider's `evolve`. */
export async function loadStream<C, E extends DomainEvent, S>(store: EventStore, streamId: string, decider: Decider<C, E, S>): Promise<Loaded<S>> {
  const history: RecordedEvent[] = [];
  try {
    for await (const event of store.readStream(streamId)) history.push(event);
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
