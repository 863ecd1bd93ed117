import { z } from 'zod';
import { cursorOf, encodeCursor } from '../queries/pagination.js';
import { PositionToken } from '../queries/query-params.js';

/** Page sizes of the audit reads: larger than the UI's, since auditors read history in bulk. */
export const AuditLimit = z.coerce.number().int().min(1).max(1000).default(100).describe('Events per page, 1 to 1000 (auditors read in bulk)');

const REVISION = /^\d{1,15}$/;
/** A revision in a query string; at most 15 digits, so that it also counts events safely as a number. */
export const Revision = z.string().regex(REVISION, 'must be a revision: a whole number from 0').transform(BigInt);

/**
 * The audit pages' cursors, opaque like every `nextCursor` (base64url, see cursorOf): a stream's
 * history holds the next revision to read, the log the last position examined. A forged one is a
 * 400 naming `cursor`.
 */
export const RevisionCursor = cursorOf(z.tuple([z.string().regex(REVISION)])).transform(([revision]) => BigInt(revision));
export const PositionCursor = cursorOf(z.tuple([PositionToken])).transform(([position]) => position);
export const revisionCursor = (revision: bigint) => encodeCursor([revision.toString()]);
export const positionCursor = (position: string) => encodeCursor([position]);

/** A parameter's old name, still taken for one version. */
export const deprecated = <T extends z.ZodType>(schema: T, current: string, description: string) =>
  schema.optional().meta({ deprecated: true, description: `Deprecated, use \`${current}\`: ${description}` });

/** Refuses a parameter given under both its names, naming the old one. */
export const notBoth =
  (old: string, current: string) =>
  (query: Record<string, unknown>, context: z.RefinementCtx): void => {
    if (query[old] !== undefined && query[current] !== undefined) {
      context.addIssue({ code: 'custom', path: [old], message: `give ${current} or its deprecated name ${old}, not both` });
    }
  };
