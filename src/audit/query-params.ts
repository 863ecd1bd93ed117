import { z } from 'zod';

/** Page sizes of the audit reads: larger than the UI's, since auditors read history in bulk. */
export const AuditLimit = z.coerce.number().int().min(1).max(1000).default(100);

/** A revision in a query string; at most 15 digits, so that it also counts events safely as a number. */
export const Revision = z.string().regex(/^\d{1,15}$/, 'must be a revision: a whole number from 0').transform(BigInt);
