import { z } from 'zod';
import { upcast } from '../domain/upcasters.js';
import type { EventStore, RecordedEvent } from '../eventstore/contract.js';
import { HttpProblem } from '../http/problem.js';
import type { AnyRebuildable } from './past-states.js';
import { Revision } from './query-params.js';

/** As of a revision, or of an instant: exactly one of them. */
export const AsOfQuery = z
  .strictObject({
    revision: Revision.optional().describe('As it stood after this revision (from 0)'),
    at: z.iso.datetime({ offset: true }).transform((at) => new Date(at)).optional().describe('As it stood at this instant, by when the store recorded each event'),
  })
  .superRefine((query, context) => {
    if ((query.revision === undefined) === (query.at === undefined)) {
      for (const field of ['revision', 'at']) context.addIssue({ code: 'custom', path: [field], message: 'give exactly one of revision and at' });
    }
  });
export type AsOf = z.infer<typeof AsOfQuery>;

/** The answer: the state (in the shape `state` gives) and the events folded into it, in revision order. */
export const pastState = <T extends z.ZodType>(state: T) =>
  z.object({
    streamId: z.string(),
    revision: z.string().describe('The last revision folded in'),
    state: state.nullable().describe('Null while the events up to there never created it (a stream written around the commands)'),
    events: z.array(
      z.object({
        revision: z.string(),
        id: z.guid(),
        type: z.string(),
        position: z.string().describe('An opaque position token'),
        occurredAt: z.string().nullable().describe('As the command sent it (ISO 8601); null for an event stored without one'),
        recordedAt: z.iso.datetime(),
      }),
    ),
  });
type PastState = z.input<ReturnType<typeof pastState<z.ZodType>>>;

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
export async function stateAsOf(store: EventStore, streamId: string, fold: AnyRebuildable, asOf: AsOf): Promise<PastState> {
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
  const current = folded.map(upcast);
  return {
    streamId,
    revision: last.revision.toString(),
    state: fold.view(current.reduce((state, event) => fold.evolve(state, event), fold.initialState), current),
    events: folded.map((event) => ({
      revision: event.revision.toString(),
      id: event.id,
      type: event.type,
      position: event.position,
      occurredAt: typeof event.metadata.occurredAt === 'string' ? event.metadata.occurredAt : null,
      recordedAt: event.recordedAt.toISOString(),
    })),
  };
}

function notReached(field: 'revision' | 'at', detail: string): HttpProblem {
  return new HttpProblem('STREAM.STATE_NOT_FOUND', detail, { errors: [{ field, message: detail }] });
}
