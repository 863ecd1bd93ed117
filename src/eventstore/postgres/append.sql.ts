import type pg from 'pg';
import type { AppendResult, ExpectedRevision } from '../contract.js';
import { encodePosition } from '../position.js';
import type { PreparedEvent } from '../validation.js';

/** One append: its stream, expected revision and checked events. */
export interface AppendRequest {
  streamId: string;
  expected: ExpectedRevision;
  events: PreparedEvent[];
}

/**
 * Whether an append may go ahead: the stream `head` holds the expected revision (`expected`: a
 * revision >= 0, or -1 no_stream, -2 any, -4 exists), and, for 'any' and 'exists', the append's
 * first event is not among the stream's last `window` events already (then it is a retry).
 */
function mayAppend(p: { stream: string; expected: string; window: string; firstId: string }): string {
  return `CASE ${p.expected} WHEN -2 THEN true
                         WHEN -4 THEN head.revision >= 0
                         WHEN -1 THEN head.revision = -1
                         ELSE head.revision = ${p.expected} END
     AND (${p.expected} >= -1 OR NOT EXISTS (
           SELECT 1 FROM events recent
            WHERE recent.stream_id = ${p.stream} AND recent.revision > head.revision - ${p.window}
              AND recent.event_id = ${p.firstId}))`;
}

/**
 * One statement, one round trip. The unique (stream_id, revision) key serializes writers of a
 * stream: a writer of revision r + 1 must see revision r committed in its snapshot before its
 * first write gives it a transaction id, so a later revision always has a larger transaction id
 * and order within a stream equals revision order in the (transaction_id, position) feed. A
 * writer that loses a race gets a unique violation and its transaction stores nothing. An append
 * that returns no rows was rejected by `mayAppend`.
 *
 * Most appends carry one event: it travels as plain columns, with no JSON to take apart.
 */
const APPEND_ONE_SQL = `
  INSERT INTO events (stream_id, revision, event_id, type, data, metadata)
  SELECT $1, head.revision + 1, $4::uuid, $5, $6::jsonb, $7::jsonb
    FROM (SELECT coalesce(max(revision), -1) AS revision FROM events WHERE stream_id = $1) head
   WHERE ${mayAppend({ stream: '$1', expected: '$2::bigint', window: '$3::int', firstId: '$4::uuid' })}
  RETURNING stream_id, transaction_id::text, position, revision`;

/**
 * Any other appends, to distinct streams, in one statement (and one transaction), as JSON:
 * `[{"s": stream, "e": expected, "events": [{"i": id, "t": type, "d": data, "m": metadata}, …]}, …]`.
 * OFFSET 0 keeps the subquery whole, so each stream's head is looked up once per append rather
 * than once per event.
 */
const APPEND_BATCH_SQL = `
  INSERT INTO events (stream_id, revision, event_id, type, data, metadata)
  SELECT ap.s, ap.revision + j.n, (j.v->>'i')::uuid, j.v->>'t', j.v->'d', j.v->'m'
    FROM (SELECT x.k, x.v->>'s' AS s, x.v->'events' AS events, head.revision
            FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(v, k)
           CROSS JOIN LATERAL (SELECT coalesce(max(revision), -1) AS revision FROM events WHERE stream_id = x.v->>'s') head
           WHERE ${mayAppend({ stream: "x.v->>'s'", expected: "(x.v->>'e')::bigint", window: '$2::int', firstId: "(x.v->'events'->0->>'i')::uuid" })}
          OFFSET 0) ap
   CROSS JOIN LATERAL jsonb_array_elements(ap.events) WITH ORDINALITY AS j(v, n)
   ORDER BY ap.k, j.n
  RETURNING stream_id, transaction_id::text, position, revision`;

/**
 * After a rejected append: the stream's revision, and where in it these event ids are stored:
 * from revision $3 on, or, when $3 is null ('any', 'exists'), among its last $4 events.
 */
export const STORED_IDS = `
  WITH stream AS (SELECT max(revision) AS current FROM events WHERE stream_id = $1)
  SELECT stream.current,
         coalesce((SELECT json_agg(json_build_object('id', event_id, 'revision', revision::text,
                                                     'transactionId', transaction_id::text, 'position', position::text))
                     FROM events
                    WHERE stream_id = $1 AND event_id = ANY ($2::uuid[])
                      AND revision > coalesce($3::bigint - 1, stream.current - $4::int)), '[]'::json) AS stored
    FROM stream`;

/**
 * Event ids are unique within a stream's idempotency window, not across the log (as in
 * EventStoreDB): a global unique index on random UUIDs cost a fifth of the append rate here.
 * Retries at an expected revision are recognised exactly; with 'any' or 'exists', when the batch
 * is among the stream's last IDEMPOTENCY_WINDOW events.
 */
export const IDEMPOTENCY_WINDOW = 100;

const EXPECTED_CODES = { no_stream: -1n, any: -2n, exists: -4n } as const;

function expectedCode(expected: ExpectedRevision): string {
  return (typeof expected === 'bigint' ? expected : EXPECTED_CODES[expected]).toString();
}

/** The statement for appends to distinct streams; it returns the rows it stored, stream by stream in order. */
export function appendQuery(appends: readonly AppendRequest[]): pg.QueryConfig {
  const [only] = appends;
  if (appends.length === 1 && only!.events.length === 1) {
    const [event] = only!.events as [PreparedEvent];
    return {
      name: 'ds_append_one',
      text: APPEND_ONE_SQL,
      values: [only!.streamId, expectedCode(only!.expected), IDEMPOTENCY_WINDOW, event.id, event.type, event.data, event.metadata],
    };
  }
  const json = appends.map(({ streamId, expected, events }) => {
    const rows = events.map((e) => `{"i":"${e.id}","t":${JSON.stringify(e.type)},"d":${e.data},"m":${e.metadata}}`);
    return `{"s":${JSON.stringify(streamId)},"e":${expectedCode(expected)},"events":[${rows.join(',')}]}`;
  });
  return { name: 'ds_append_batch', text: APPEND_BATCH_SQL, values: [`[${json.join(',')}]`, IDEMPOTENCY_WINDOW] };
}

export interface StoredId {
  id: string;
  revision: string;
  transactionId: string;
  position: string;
}

/**
 * The original result when every id of the batch is already stored in the stream, in order, at
 * the place the expected revision names (anywhere in the window for 'any' and 'exists').
 */
export function idempotentResult(expected: ExpectedRevision, batch: { id: string }[], stored: StoredId[]): AppendResult | undefined {
  const byId = new Map(stored.map((row) => [row.id, row]));
  const first = byId.get(batch[0]!.id);
  if (!first || stored.length !== batch.length) return undefined;
  const start = BigInt(first.revision);
  if (expected === 'no_stream' ? start !== 0n : typeof expected === 'bigint' && start !== expected + 1n) return undefined;
  if (!batch.every((event, i) => byId.get(event.id)?.revision === String(start + BigInt(i)))) return undefined;
  const last = byId.get(batch[batch.length - 1]!.id)!;
  return { nextRevision: BigInt(last.revision), position: encodePosition(BigInt(last.transactionId), BigInt(last.position)) };
}
