import { Router, type ErrorRequestHandler } from 'express';
import { z } from 'zod';
import type { EventStore } from '../eventstore/contract.js';
import { StreamNotFoundError } from '../eventstore/errors.js';
import type { DescribedRoute } from '../http/openapi.js';
import { HttpProblem } from '../http/problem.js';
import type { Logger } from '../platform/logger.js';
import { AuditEvent, toAuditEvent } from './audit-event.js';
import { StreamVerification, verifyStream } from './chain-verification.js';
import { ExportQuery, LogPage, LogPageQuery, logPage } from './log-selection.js';
import { exportNdjson } from './ndjson-export.js';
import { REBUILDABLE } from './past-states.js';
import { AuditLimit, Revision, RevisionCursor, deprecated, notBoth, revisionCursor } from './query-params.js';
import { AsOfQuery, pastState, stateAsOf } from './time-travel.js';

const HistoryQuery = z
  .strictObject({
    cursor: RevisionCursor.optional().describe('A `nextCursor` from a previous page; none: from the first event'),
    fromRevision: deprecated(Revision, 'cursor', 'the first revision to read'),
    limit: AuditLimit,
  })
  .superRefine(notBoth('fromRevision', 'cursor'))
  .transform(({ cursor, fromRevision, limit }) => ({ fromRevision: cursor ?? fromRevision ?? 0n, limit }));
const History = z.object({
  streamId: z.string(),
  items: z.array(AuditEvent),
  nextCursor: z.string().nullable().describe('Opaque: pass it as `cursor` for the next page; null on the last page'),
});
const EntityParams = z.object({ id: z.uuid() });

const AUDITORS = ['auditor', 'admin'];
/** For the OpenAPI document. */
export const AUDIT_API: readonly DescribedRoute[] = [
  {
    method: 'get', path: '/audit/streams/:streamId/events', summary: "A stream's whole history, paged by revision, each event with all its metadata",
    roles: AUDITORS, query: HistoryQuery, success: { schema: History },
  },
  {
    method: 'get', path: '/audit/streams/:streamId/verify', summary: "The stream's hash chain recomputed: valid, or its first broken link",
    roles: AUDITORS, success: { schema: StreamVerification },
  },
  {
    method: 'get', path: '/audit/events', summary: 'The log, filtered by category, event type or deal; nextCursor passes every event examined, even on an empty page; caughtUp marks the end of the log',
    roles: AUDITORS, query: LogPageQuery, success: { schema: LogPage },
  },
  ...Object.entries(REBUILDABLE).map(([path, rebuildable]): DescribedRoute => ({
    method: 'get', path: `/audit/${path}/:id/state`, summary: `The ${path.replace(/s$/, '')} as it stood at a revision or an instant, rebuilt from its events, with those events`,
    roles: AUDITORS, query: AsOfQuery, success: { schema: pastState(rebuildable.answer) },
  })),
  {
    method: 'get', path: '/audit/export', summary: 'Events as NDJSON, one per line, streamed', roles: AUDITORS, query: ExportQuery,
    success: { contentType: 'application/x-ndjson', description: 'One JSON event per line: the envelope of `/audit/events` items, `data` in its type\'s current shape (`storedSchemaVersion` on an event stored in an older one)' },
    problems: { 404: 'The `stream` asked for has no events' },
  },
];

/**
 * What auditors read, under /api/audit (mounted behind authentication and the auditor and admin
 * roles): stream histories, the log, past states, NDJSON exports and hash-chain verification. All
 * of it reads the event store through its contract, never the read models.
 */
export function auditRouter({ eventStore, logger }: { eventStore: EventStore; logger: Logger }): Router {
  const router = Router();

  router.get('/streams/:streamId/events', async (req, res) => {
    const { fromRevision, limit } = HistoryQuery.parse(req.query);
    const body: z.input<typeof History> = { streamId: req.params.streamId, items: [], nextCursor: null };
    // One more than a page: whether it comes says whether there is a next page.
    for await (const event of eventStore.readStream(req.params.streamId, { fromRevision, maxCount: limit + 1 })) {
      if (body.items.length === limit) body.nextCursor = revisionCursor(event.revision);
      else body.items.push(toAuditEvent(event));
    }
    res.json(body);
  });

  router.get('/streams/:streamId/verify', async (req, res) => {
    const body: z.input<typeof StreamVerification> = await verifyStream(eventStore, req.params.streamId);
    res.json(body);
  });

  router.get('/events', async (req, res) => {
    const body: z.input<typeof LogPage> = await logPage(eventStore, LogPageQuery.parse(req.query));
    res.json(body);
  });

  for (const [path, rebuildable] of Object.entries(REBUILDABLE)) {
    router.get(`/${path}/:id/state`, async (req, res) => {
      const { id } = EntityParams.parse(req.params);
      const body: z.input<ReturnType<typeof pastState>> = await stateAsOf(eventStore, rebuildable.streamId(id), rebuildable, AsOfQuery.parse(req.query));
      res.json(body);
    });
  }

  router.get('/export', async (req, res) => {
    const selection = ExportQuery.parse(req.query);
    // A missing stream must be a 404 while one can still be sent: before the first line.
    if (selection.stream) for await (const _ of eventStore.readStream(selection.stream, { maxCount: 1 })) break;
    res.status(200).type('application/x-ndjson');
    try {
      await exportNdjson(eventStore, selection, res);
      res.end();
    } catch (error) {
      if (!res.headersSent) throw error;
      // Too late for a problem response: cut the body short, so the client sees it is incomplete.
      logger.error('audit export failed', { error: (error as Error).message });
      res.destroy();
    }
  });

  router.use(streamNotFound);
  return router;
}

const streamNotFound: ErrorRequestHandler = (error, _req, _res, next) => {
  if (!(error instanceof StreamNotFoundError)) return next(error);
  next(new HttpProblem('STREAM.NOT_FOUND', `${error.streamId} has no events`));
};
