import { once } from 'node:events';
import { Router, type Response } from 'express';
import { isCheckpoint, type EventStore, type Position, type SubscriptionMessage } from '../eventstore/contract.js';
import { comparePositions } from '../eventstore/position.js';
import type { Principal } from '../auth/principal.js';
import { requireRole } from '../http/auth.js';
import type { DescribedRoute } from '../http/openapi.js';
import { sendProblem } from '../http/problem.js';
import { shutdownSignal } from '../http/shutdown.js';
import type { Logger } from '../platform/logger.js';
import { toAuditEvent } from '../audit/audit-event.js';
import { FeedQuery, feedSubscription } from './event-filter-query.js';
import { FeedSlots, type FeedCaps } from './feed-slots.js';

/**
 * # The integration feed: `GET /api/integrations/feed` (roles integration, admin)
 *
 * Server-sent events, one per stored event, in position order. By default every message is an
 * unnamed one, so that `EventSource.onmessage` receives them all; the event type is in its data:
 * ```
 * id: <position>
 * data: <the event as auditors read it: id, streamId, revision, position, type, recordedAt, data, metadata>
 * ```
 * With `?events=named` each message also names its type (`event: DealCreated`), for a client that
 * listens by type (`addEventListener('DealCreated', ...)`); such a client hears nothing on
 * `onmessage`, as the SSE spec has it. `revision` is a decimal string (as in command responses),
 * `recordedAt` ISO 8601. Events come as stored, never upcast: `metadata.schemaVersion` (absent: 1)
 * says which version of its type's shape `data` has (the shapes: GET /api/integrations/event-types/:type).
 *
 * - Filters: `?category=deal,action&type=DealCreated&stream=deal-<id>` (lists; all given must match).
 * - Start: `Last-Event-ID` (what EventSource sends when it reconnects), else `?from=` (`start`, `end`
 *   or an event's id), exclusive. Without either the feed starts at the end, live only: a client
 *   that has no position yet wants what happens from now on, and replaying the whole log to every
 *   new connection by default would be costly for both sides; `?from=start` asks for the history.
 * - Resuming: besides events, a message holding only `id: <position>` moves the client's last id
 *   past events the filter skipped (EventSource dispatches nothing for it but keeps the id, as the
 *   WHATWG spec says), so a filtered client reconnects where it was, not at its last matching event,
 *   and a live-only client that saw no event yet reconnects without a gap.
 * - `: heartbeat` comments every `heartbeatMs` keep idle connections open through proxies; `retry:`
 *   tells EventSource how long to wait before reconnecting.
 * - A client that reads slowly holds the subscription back rather than filling memory: the next event
 *   is taken from the store only once the socket has taken the last one.
 * - A process holds at most so many feeds, and so many of one principal (FeedCaps); beyond them a
 *   new one is answered 429, until a feed ends (its client leaves, or the process stops).
 */
const FEED_EXAMPLE = [
  'Every event is a plain SSE message (its type in `data.type`), so `EventSource.onmessage` receives them all:',
  '```',
  'id: 0000000000000a1f0000000000000003',
  'data: {"id":"…","streamId":"deal-…","revision":"0","position":"0000000000000a1f0000000000000003","type":"DealCreated","recordedAt":"…","data":{…},"metadata":{…}}',
  '```',
  '```js',
  "const feed = new EventSource('/api/integrations/feed?category=deal&from=start');",
  'feed.onmessage = (message) => { const event = JSON.parse(message.data); console.log(event.type, message.lastEventId); };',
  '```',
  'With `events=named` each message carries `event: <type>` too (`feed.addEventListener(\'DealCreated\', …)`; `onmessage` then hears nothing).',
  'A message with only an `id:` moves the last id past events the filter skipped; `: heartbeat` comments keep the connection open.',
  'On reconnection EventSource sends `Last-Event-ID`: the feed resumes after it, with no gap and no duplicate. The data is the envelope of `/audit/events` items, as stored.',
].join('\n');

/** For the OpenAPI document. */
export const FEED_API: readonly DescribedRoute[] = [
  {
    method: 'get', path: '/integrations/feed', summary: 'Server-sent events, live, each with its position as id; Last-Event-ID resumes with no gap and no duplicate',
    roles: ['integration', 'admin'], query: FeedQuery, success: { contentType: 'text/event-stream', description: FEED_EXAMPLE },
  },
];

export interface FeedOptions {
  eventStore: EventStore;
  logger: Logger;
  heartbeatMs?: number;
  retryMs?: number;
  /** Open feeds at most; without caps, as many as clients open. */
  caps?: FeedCaps;
}

export function integrationFeed({ eventStore, logger, heartbeatMs = 15_000, retryMs = 3_000, caps }: FeedOptions): Router {
  const router = Router();
  const slots = caps && new FeedSlots(caps);
  router.get('/integrations/feed', requireRole('integration', 'admin'), async (req, res) => {
    const { from, filter, named } = feedSubscription(req, res.locals.principal as Principal);
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    // An open feed never falls idle for a stopping server to close it: it ends at once instead.
    const ended = AbortSignal.any([gone.signal, shutdownSignal(req.app)]);
    if (res.destroyed) return; // the client left before this listener: 'close' will not come again
    const slot = slots?.take((res.locals.principal as Principal).id);
    if (typeof slot === 'string') return tooManyFeeds(res, slot, slots!.caps, retryMs);
    res.on('close', () => slot?.release());
    res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    res.write(`retry: ${retryMs}\n\n`);

    const heartbeat = setInterval(() => {
      // A comment queued behind unread events would only add to them.
      if (!res.writableNeedDrain) res.write(': heartbeat\n\n');
    }, heartbeatMs);
    let lastId = from === 'start' || from === 'end' ? undefined : from;
    try {
      for await (const message of eventStore.subscribe({ from, filter, signal: ended })) {
        if (ended.aborted) break;
        const frame = frameOf(message, lastId, named);
        if (frame === undefined) continue;
        lastId = message.position;
        // Back-pressure: the next message is pulled once the socket took this one (or the client left).
        if (!res.write(frame)) await once(res, 'drain', { signal: ended }).catch(() => undefined);
      }
    } catch (error) {
      logger.warn('integration feed failed', { error: (error as Error).message, filter });
    } finally {
      clearInterval(heartbeat);
      res.end(); // the client reconnects with its last id
    }
  });
  return router;
}

function tooManyFeeds(res: Response, cap: 'principal' | 'process', caps: FeedCaps, retryMs: number): void {
  res.set('Retry-After', String(Math.ceil(retryMs / 1000)));
  sendProblem(
    res,
    'FEED.TOO_MANY',
    cap === 'principal' ? `This principal holds ${caps.perPrincipal} open feeds, the most one may; close one first` : `This server holds ${caps.perProcess} open feeds, the most it takes; try again later`,
  );
}

/** An event as a message (named by its type, if asked); a checkpoint as a bare id, when it moves past the last one sent. */
function frameOf(message: SubscriptionMessage, lastId: Position | undefined, named: boolean): string | undefined {
  if (!isCheckpoint(message)) return `id: ${message.position}\n${named ? `event: ${message.type}\n` : ''}data: ${JSON.stringify(toAuditEvent(message))}\n\n`;
  if (lastId === undefined || comparePositions(message.position, lastId) > 0) return `id: ${message.position}\n\n`;
  return undefined;
}
