import type pg from 'pg';
import type { AppendResult, ExpectedRevision } from '../contract.js';
import { encodePosition } from '../position.js';
import type { PreparedEvent } from '../validation.js';

/**
 * One statement, one round trip. The unique (stream_id, revision) key serializes writers of a
 * stream: a writer of revision r + 1 must see revision r committed in its snapshot before its
 * first write gives it a transaction id, so a later revision always has a larger transaction id
 * and order within a stream equals revision order in the (transaction_id, position) feed. A
 * writer that loses a race gets a unique violation and its transaction stores nothing.
 * No rows back means the expected revision did not hold, or ('any', 'exists') the batch's first
 * event is among the stream's last $3 events already: a retry.
 * $1 stream, $2 a revision >= 0 or -1 no_stream, -2 any, -4 exists, $3 the idempotency window;
 * then one event as columns ($4 id, $5 type, $6 data, $7 metadata), or a batch as a JSON array ($4).
 */
function appendSql(rows: { columns: string; firstId: string; from?: string; orderBy?: string }): string {
  return `
  INSERT INTO events (stream_id, revision, event_id, type, data, metadata)
  SELECT $1, stream.revision + ${rows.columns}
    FROM (SELECT coalesce(max(revision), -1) AS revision FROM events WHERE stream_id = $1) stream${rows.from ?? ''}
   WHERE CASE $2::bigint WHEN -2 THEN true
                         WHEN -4 THEN stream.revision >= 0
                         WHEN -1 THEN stream.revision = -1
                         ELSE stream.revision = $2::bigint END
     AND ($2::bigint >= -1 OR NOT EXISTS (
           SELECT 1 FROM events recent
            WHERE recent.stream_id = $1 AND recent.revision > stream.revision - $3::int AND recent.event_id = ${rows.firstId}))
   ${rows.orderBy ?? ''}
  RETURNING transaction_id::text, position, revision`;
}

/** Most appends carry one event: it travels as plain columns, with no JSON array to take apart. */
const APPEND_ONE_SQL = appendSql({ columns: '1, $4::uuid, $5, $6::jsonb, $7::jsonb', firstId: '$4::uuid' });
const APPEND_MANY_SQL = appendSql({
  columns: "j.n, (j.v->>'id')::uuid, j.v->>'type', j.v->'data', j.v->'metadata'",
  firstId: "($4::jsonb->0->>'id')::uuid",
  from: ', jsonb_array_elements($4::jsonb) WITH ORDINALITY AS j(v, n)',
  orderBy: 'ORDER BY j.n',
});

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

/** The append statement for a checked batch. */
export function appendQuery(streamId: string, expected: ExpectedRevision, events: PreparedEvent[]): pg.QueryConfig {
  const code = (typeof expected === 'bigint' ? expected : EXPECTED_CODES[expected]).toString();
  const head = [streamId, code, IDEMPOTENCY_WINDOW];
  if (events.length === 1) {
    const [event] = events as [PreparedEvent];
    return { name: 'ds_append_one', text: APPEND_ONE_SQL, values: [...head, event.id, event.type, event.data, event.metadata] };
  }
  const batch = events.map((e) => `{"id":"${e.id}","type":${JSON.stringify(e.type)},"data":${e.data},"metadata":${e.metadata}}`);
  return { name: 'ds_append_many', text: APPEND_MANY_SQL, values: [...head, `[${batch.join(',')}]`] };
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
