import { z } from 'zod';
import { evolveAction, initialActionState } from '../domain/actions/action.state.js';
import { evolveDeal, initialDealState } from '../domain/deals/deal.state.js';
import type { DomainEvent } from '../domain/shared/event.js';
import { upcast } from '../domain/upcasters.js';
import type { EventStore, RecordedEvent } from '../eventstore/contract.js';
import { HttpProblem } from '../http/problem.js';
import { Revision } from './query-params.js';

/** A kind of stream that can be rebuilt as it stood: how its id is built, and the domain's own fold. */
export interface Rebuildable<S, E> {
  streamId(id: string): string;
  initialState: S;
  evolve(state: S, event: E): S;
}

// Each entry is checked against its own types where it is declared (as commandRoute does).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyRebuildable = Rebuildable<any, any>;
const rebuildable = <S, E extends DomainEvent>(spec: Rebuildable<S, E>): AnyRebuildable => spec;

/** What auditors can rebuild, by path segment. */
export const REBUILDABLE: Record<string, AnyRebuildable> = {
  deals: rebuildable({ streamId: (id) => `deal-${id}`, initialState: initialDealState, evolve: evolveDeal }),
  actions: rebuildable({ streamId: (id) => `action-${id}`, initialState: initialActionState, evolve: evolveAction }),
};

/** As of a revision, or of an instant: exactly one of them. */
export const AsOfQuery = z
  .strictObject({
    revision: Revision.optional(),
    at: z.iso.datetime({ offset: true }).transform((at) => new Date(at)).optional(),
  })
  .superRefine((query, context) => {
    if ((query.revision === undefined) === (query.at === undefined)) {
      for (const field of ['revision', 'at']) context.addIssue({ code: 'custom', path: [field], message: 'give exactly one of revision and at' });
    }
  });
export type AsOf = z.infer<typeof AsOfQuery>;

export interface PastState<S> {
  streamId: string;
  revision: string;
  state: S;
  /** The events folded into it, in revision order. */
  events: { revision: string; id: string; type: string; position: string; occurredAt: unknown; recordedAt: string }[];
}

/**
 * A stream's state as it stood after a revision, or at an instant, folded from its events with the
 * domain's own `evolve` (never from read models) over each event in its type's current shape
 * (upcast). `at` compares with `recordedAt`, the store's own clock at append, not `occurredAt`:
 * the question is what the log held at that instant, and `occurredAt` comes from whichever process
 * sent the command (a seeded or imported event may carry any time). The state is a prefix of the
 * stream, ending before the first event recorded later: an event cannot have been in the log
 * before the one preceding it.
 *
 * 404 problems: the stream has no events (StreamNotFoundError from the store), or it had not
 * reached the revision or did not exist yet at the instant (naming that field).
 */
export async function stateAsOf<S, E extends DomainEvent>(store: EventStore, streamId: string, fold: Rebuildable<S, E>, asOf: AsOf): Promise<PastState<S>> {
  const folded: RecordedEvent[] = [];
  const read = store.readStream(streamId, asOf.revision === undefined ? {} : { maxCount: Number(asOf.revision) + 1 });
  for await (const event of read) {
    if (asOf.at && event.recordedAt > asOf.at) break;
    folded.push(event);
  }
  const last = folded.at(-1);
  if (asOf.revision !== undefined && last?.revision !== asOf.revision) {
    throw notReached('revision', `${streamId} has no revision ${asOf.revision}; its last is ${last?.revision ?? 'none'}`);
  }
  if (!last) throw notReached('at', `${streamId} had no events at ${asOf.at!.toISOString()}`);
  return {
    streamId,
    revision: last.revision.toString(),
    state: folded.reduce((state, event) => fold.evolve(state, upcast(event) as unknown as E), fold.initialState),
    events: folded.map((event) => ({
      revision: event.revision.toString(),
      id: event.id,
      type: event.type,
      position: event.position,
      occurredAt: event.metadata.occurredAt,
      recordedAt: event.recordedAt.toISOString(),
    })),
  };
}

function notReached(field: 'revision' | 'at', detail: string): HttpProblem {
  return new HttpProblem('STREAM.STATE_NOT_FOUND', detail, { errors: [{ field, message: detail }] });
}
