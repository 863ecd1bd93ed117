import { z } from 'zod';
import { isPositionToken } from '../eventstore/position.js';

/** Page sizes of the audit reads: larger than the UI's, since auditors read history in bulk. */
export const AuditLimit = z.coerce.number().int().min(1).max(1000).default(100);

/** A revision in a query string; at most 15 digits, so that it also counts events safely as a number. */
export const Revision = z.string().regex(/^\d{1,15}$/, 'must be a revision: a whole number from 0').transform(BigInt);

export const PositionToken = z.string().refine(isPositionToken, 'must be a position token returned by the event store');

/** One value or a comma list, each matching `item`: `?category=deal,action`. */
export function commaList(item: RegExp, what: string) {
  return z
    .string()
    .max(2000)
    .transform((text) => [...new Set(text.split(',').map((value) => value.trim()))])
    .pipe(z.array(z.string().regex(item, `must be ${what}`)).min(1).max(50));
}
