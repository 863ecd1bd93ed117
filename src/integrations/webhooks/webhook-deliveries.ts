import type { Knex } from 'knex';
import type { Position } from '../../eventstore/contract.js';
import { iso, keysetPage, type Page } from '../../queries/pagination.js';

/** An attempt that will be tried again is `failed`; the last one, when it fails too, `dead-lettered`. */
export type DeliveryStatus = 'delivered' | 'failed' | 'dead-lettered';

export interface DeliveryAttempt {
  attempt: number;
  status: DeliveryStatus;
  /** Null when no answer came (timeout, connection refused). */
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

export interface DeliveryView extends DeliveryAttempt {
  eventId: string;
  position: Position;
  at: string;
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  position: Position;
  attempt: number;
  status: DeliveryStatus;
  http_status: number | null;
  error: string | null;
  duration_ms: number;
  at: Date | string;
}

/** A subscription's deliveries, newest first. */
export async function listDeliveries(knex: Knex, subscriptionId: string, page: { limit: number; cursor?: [string, string] }): Promise<Page<DeliveryView>> {
  const rows = await keysetPage<DeliveryRow & Record<string, unknown>>(knex('webhook_deliveries').where('subscription_id', subscriptionId).select('*'), {
    sort: 'id',
    tiebreak: 'id',
    direction: 'desc',
    limit: page.limit,
    keys: ['id', 'id'],
    ...(page.cursor ? { cursor: page.cursor } : {}),
  });
  return { items: rows.items.map(deliveryView), nextCursor: rows.nextCursor };
}

export function deliveryView(row: DeliveryRow): DeliveryView {
  return {
    eventId: row.event_id,
    position: row.position,
    attempt: row.attempt,
    status: row.status,
    httpStatus: row.http_status,
    error: row.error,
    durationMs: row.duration_ms,
    at: iso(row.at)!,
  };
}
