import type { JsonObject, RecordedEvent } from '../contract.js';

const EVENT_COLUMNS = `
  lpad(to_hex(ev.transaction_id::text::bigint), 16, '0') || lpad(to_hex(ev.position), 16, '0') AS token,
  ev.stream_id, ev.revision, ev.event_id, ev.type, ev.data, ev.metadata, ev.recorded_at`;

/**
 * Reads the log after ($1, $2) in (transaction_id, position) order, only below the oldest
 * transaction still open, so no event can later commit behind what was read. `horizon` is that
 * bound; `blocked` says committed events wait above it (a reader should look again soon).
 */
export const READ_LOG = `
  SELECT h.horizon::text AS horizon, h.blocked, e.*
    FROM (SELECT x.horizon,
                 -- the newest committed event, found at the end of the primary key whatever the statistics say
                 coalesce((SELECT transaction_id FROM events ORDER BY transaction_id DESC LIMIT 1) >= x.horizon, false) AS blocked
            FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) x) h
    LEFT JOIN LATERAL (
      SELECT ${EVENT_COLUMNS}
        FROM events ev
       WHERE (ev.transaction_id, ev.position) > ($1::xid8, $2::bigint)
         AND ev.transaction_id < h.horizon
         AND ($4::text[] IS NULL OR split_part(ev.stream_id, '-', 1) = ANY ($4::text[]))
         AND ($5::text[] IS NULL OR ev.type = ANY ($5::text[]))
         AND ($6::text[] IS NULL OR ev.stream_id = ANY ($6::text[]))
       ORDER BY ev.transaction_id, ev.position
       LIMIT $3
    ) e ON true`;

export const READ_STREAM_FORWARDS = `
  SELECT (SELECT max(revision) FROM events WHERE stream_id = $1) AS stream_revision, e.*
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
      SELECT ${EVENT_COLUMNS} FROM events ev
       WHERE ev.stream_id = $1 AND ev.revision >= $2 ORDER BY ev.revision LIMIT $3
    ) e ON true`;

export const READ_STREAM_BACKWARDS = READ_STREAM_FORWARDS.replace('ev.revision >= $2 ORDER BY ev.revision', 'ev.revision <= $2 ORDER BY ev.revision DESC');

/** An event of a stream by its id; the derived-id variant is the one the partial index serves. */
export const FIND_EVENT = `SELECT ${EVENT_COLUMNS} FROM events ev WHERE ev.stream_id = $1 AND ev.event_id = $2 LIMIT 1`;
export const FIND_DERIVED_EVENT = FIND_EVENT.replace('LIMIT 1', 'AND get_byte(uuid_send(ev.event_id), 6) >> 4 = 8 LIMIT 1');

export const READ_SNAPSHOT = `
  SELECT revision, position, state FROM stream_snapshots WHERE stream_id = $1 AND name = $2 AND version = $3`;

export const WRITE_SNAPSHOT = `
  INSERT INTO stream_snapshots AS s (stream_id, name, version, revision, position, state)
  VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (stream_id, name, version) DO UPDATE
     SET revision = excluded.revision, position = excluded.position, state = excluded.state, written_at = now()
   WHERE s.revision < excluded.revision`;

export interface EventRow {
  token: string | null;
  stream_id: string;
  revision: string;
  event_id: string;
  type: string;
  data: JsonObject;
  metadata: JsonObject;
  recorded_at: Date;
}

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    type: row.type,
    revision: BigInt(row.revision),
    position: row.token!,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at,
  };
}
