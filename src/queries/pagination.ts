import { findUnstorable } from '../eventstore/validation.js';
import type { Knex } from 'knex';
import { z } from 'zod';

export const Limit = z.coerce.number().int().min(1).max(200).default(50);
/**
 * An opaque cursor from a previous page's `nextCursor`, decoded and checked against the shape of
 * the keys it holds, so a forged or stale one is a 400 naming `cursor`, never a failed SQL cast.
 */
export function cursorOf<T>(shape: z.ZodType<T>) {
  return z
    .string()
    .max(1000)
    .transform((cursor, context) => {
      const parsed = shape.safeParse(decode(cursor));
      if (parsed.success) return parsed.data;
      context.addIssue({ code: 'custom', message: 'must be a nextCursor returned by a previous page' });
      return z.NEVER;
    });
}

/** A cursor's keys, or undefined when it is not one we could have made (unreadable, or text no column holds). */
function decode(cursor: string): unknown {
  try {
    const keys: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return findUnstorable(keys) ? undefined : keys;
  } catch {
    return undefined;
  }
}

/** Encodes a page's last keys as the next cursor. */
export function encodeCursor(keys: unknown): string {
  return Buffer.from(JSON.stringify(keys)).toString('base64url');
}

export interface Page<T> {
  items: T[];
  /** Pass it as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** A page's answer schema: `{ items, nextCursor }`. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe('Opaque: pass it as `cursor` for the next page; null on the last page'),
  });
}

/**
 * Keyset pagination over (sort column, unique tiebreak column): stable while rows are added, and as
 * fast on page 1,000 as on page 1. The selected row must expose both columns under `keys`.
 */
export async function keysetPage<T extends Record<string, unknown>>(
  query: Knex.QueryBuilder,
  options: { sort: string; tiebreak: string; direction: 'asc' | 'desc'; cursor?: [unknown, unknown]; limit: number; keys: [string, string] },
): Promise<Page<T>> {
  const { sort, tiebreak, direction, cursor, limit, keys } = options;
  if (cursor) query.whereRaw(`(??, ??) ${direction === 'asc' ? '>' : '<'} (?, ?)`, [sort, tiebreak, ...(cursor as Knex.Value[])]);
  const rows = (await query.orderBy([{ column: sort, order: direction }, { column: tiebreak, order: direction }]).limit(limit + 1)) as T[];
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const nextCursor =
    rows.length > limit && last ? encodeCursor(keys.map((key) => toJson(last[key]))) : null;
  return { items, nextCursor };
}

function toJson(value: unknown): unknown {
  return value instanceof Date ? iso(value) : value;
}

/** A timestamp column (a Date, or text inside JSON) as an ISO 8601 string in UTC (null stays null). */
export function iso(value: unknown): string | null {
  return value === null || value === undefined ? null : isoTime(value);
}

/** A timestamp column that is never null, as an ISO 8601 string in UTC. */
export function isoTime(value: unknown): string {
  return (value instanceof Date ? value : new Date(value as string)).toISOString();
}
