import type { Knex } from 'knex';
import { z } from 'zod';
import type { Position } from '../../eventstore/contract.js';
import { iso, keysetPage, type Page } from '../../queries/pagination.js';

/**
 * An attempt that will be tried again is `failed`; the last one, when it fails too, `dead-lettered`
 * (rows written before subscriptions were suspended instead). Stored as written; answers say
 * `dead_lettered` (DeliveryView).
 */
export type DeliveryStatus = 'delivered' | 'failed' | 'dead-lettered';

export interface DeliveryAttempt {
  attempt: number;
  status: DeliveryStatus;
  /** Null when no answer came (timeout, connection refused). */
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

export const DeliveryView = z.object({
  eventId: z.guid(),
  position: z.string().describe("The event's position token"),
  attempt: z.number().int().min(1).describe('Which attempt at this event, from 1'),
  status: z.enum(['delivered', 'failed', 'dead_lettered']).describe('`failed`: tried again later (or, the retry schedule spent, the subscription suspended); `dead_lettered`: given up on (before subscriptions were suspended instead)'),
  httpStatus: z.number().int().nullable().describe("The receiver's status code; null when no answer came (timeout, no connection)"),
  error: z.string().nullable().describe('What went wrong; null when delivered'),
  durationMs: z.number().int(),
  at: z.iso.datetime(),
});
export type DeliveryView = z.infer<typeof DeliveryView>;

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
export async function listDeliveries(knex: Knex, subscriptionId: string, page: { limit: number; cursor?: [string, string] }): Promise<Page<z.input<typeof DeliveryView>>> {
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

export function deliveryView(row: DeliveryRow): z.input<typeof DeliveryView> {
  return {
    eventId: row.event_id,
    position: row.position,
    attempt: row.attempt,
    status: row.status === 'dead-lettered' ? 'dead_lettered' : row.status,
    httpStatus: row.http_status,
    error: row.error,
    durationMs: row.duration_ms,
    at: iso(row.at)!,
  };
}
