import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response, Router } from 'express';
import type { Knex } from 'knex';
import type { z } from 'zod';
import type { CommandResult as CommandAnswer, CreatedResult } from './api-shapes.js';
import { derivedUuid, eventIdsFromKey } from '../commands/event-ids.js';
import { handleCommand, type CommandResult, type StreamStates } from '../commands/handle-command.js';
import type { CommandMetadata, Decider, DomainEvent } from '../domain/shared/event.js';
import type { EventStore, Position } from '../eventstore/contract.js';
import { actorOf, type Principal, type Role } from '../auth/principal.js';
import { requireRole } from './auth.js';
import { findResponse, requestHash, saveResponse } from './idempotency.js';
import type { InFlight } from './in-flight.js';
import { HttpProblem } from './problem.js';

export interface CommandRouteSpec<Body, C, E extends DomainEvent, S> {
  method: 'post' | 'patch';
  /** Under /api; :id names the addressed stream's id, other parameters reach `streamId` and `command`. */
  path: string;
  summary: string;
  roles: Role[];
  body: z.ZodType<Body>;
  decider: Decider<C, E, S>;
  /** The stream the command addresses; `id` is the path's :id or, for creation, a new one. */
  streamId: (id: string, params: PathParams) => string;
  /** Builds the command; it may read other streams first (a proposal needs its deal). */
  command: (body: Body, context: CommandContext) => C | Promise<C>;
  /**
   * Whether this caller may address this object at all, beyond its role (an agent only its own
   * runs); throws a DomainError (a 404, so that others' ids do not leak) when not.
   */
  authorize?: (principal: Principal, params: PathParams) => void;
  /** Creation: 201 with a Location built from the new id. */
  location?: (id: string, params: PathParams) => string;
  /**
   * Another stream's share of the command, appended once this one's events are stored (a finished
   * agent run settles its cost on the agent's ledger). It must be idempotent: a retry of the
   * command runs it again. Returns the position of what it wrote, if anything.
   */
  followUp?: (result: CommandResult<E>, context: CommandContext) => Promise<Position | null>;
}

export type PathParams = Record<string, string>;

export interface CommandContext {
  id: string;
  params: PathParams;
  metadata: CommandMetadata;
  principal: Principal;
  eventStore: EventStore;
  /** What this process knows of streams: read another stream with `loadStream(eventStore, id, decider, streams)`. */
  streams: StreamStates;
}

// The routes of a module are listed together; each is checked against its own types where it is declared.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommandRoute = CommandRouteSpec<any, any, any, any>;

/** Declares a command route, checking its parts against each other. */
export function commandRoute<Body, C, E extends DomainEvent, S>(spec: CommandRouteSpec<Body, C, E, S>): AnyCommandRoute {
  return spec;
}

/** Mounts command routes on a router. */
export function mountCommands(router: Router, deps: CommandDependencies, routes: readonly AnyCommandRoute[]): Router {
  for (const route of routes) router[route.method](route.path, requireRole(...route.roles), requireJson, commandHandler(deps, route));
  return router;
}

/**
 * One route for one command: role check, body validation (400 naming each field), If-Match
 * (412 when stale), Idempotency-Key (the same key and request answer the first response again,
 * byte for byte, and store nothing; the same key with another request is 422), load-decide-append,
 * and a reply with the new revision (also the ETag) and the position token, which queries accept
 * to read their own writes; a creation's reply names the new id too.
 */
function commandHandler(deps: CommandDependencies, spec: AnyCommandRoute): RequestHandler {
  return (req, res) => deps.inFlight.run(async () => {
    const principal = res.locals.principal as Principal;
    spec.authorize?.(principal, req.params as PathParams);
    const key = idempotencyKey(req);
    const hash = key && requestHash(req.method, req.originalUrl, req.body);
    if (key) {
      const stored = await findResponse(deps.knex, principal.id, key);
      if (stored && stored.requestHash !== hash) {
        throw new HttpProblem('IDEMPOTENCY_KEY.REUSED', 'This Idempotency-Key was used with another request');
      }
      if (stored) return sendJson(res, stored);
    }

    const body = spec.body.parse(req.body ?? {});
    // A repeated creation must name the same new stream: its id derives from the key too.
    const scope = key && `${principal.id}\u0000${key}`;
    const params = req.params as PathParams;
    const id = !spec.location ? String(params.id) : scope ? derivedUuid(scope, 'id') : randomUUID();
    const streamId = spec.streamId(id, params);
    const context: CommandContext = { id, params, metadata: commandMetadata(req, principal), principal, eventStore: deps.eventStore, streams: deps.streams };
    const command = await spec.command(body, context);
    const result = await handleCommand(deps.eventStore, streamId, spec.decider, command, {
      expectedRevision: ifMatch(req),
      known: deps.streams,
      ...(scope ? { eventIdFor: eventIdsFromKey(scope, streamId) } : {}),
    });
    const followedAt = spec.followUp && (await spec.followUp(result, context));

    const status = spec.location ? 201 : 200;
    const headers: Record<string, string> = {};
    if (result.revision !== null) headers.ETag = `"${result.revision}"`;
    if (spec.location) headers.Location = spec.location(id, params);
    // The later position, so that a query given it sees every stream the command wrote.
    const done: CommandAnswer = { revision: result.revision?.toString() ?? null, position: followedAt ?? result.position };
    // A creation appends, so its revision and position are never null.
    const reply = spec.location ? ({ id, ...done } as CreatedResult) : done;
    // Serialized once: a repeat answers these very bytes (see idempotency.ts).
    const answer = { status, headers, body: JSON.stringify(reply) };
    if (key && hash) await saveResponse(deps.knex, principal.id, key, { requestHash: hash, ...answer });
    sendJson(res, answer);
  });
}

function sendJson(res: Response, { status, headers, body }: { status: number; headers: Record<string, string>; body: string }): void {
  res.status(status).set(headers).type('application/json').send(body);
}

export interface CommandDependencies {
  eventStore: EventStore;
  knex: Knex;
  /** Commands in progress, which shutdown waits for. */
  inFlight: InFlight;
  /** The streams this process wrote last, so commands on them need not read them first. */
  streams: StreamStates;
}

/** `Idempotency-Key`: 1 to 200 visible ASCII characters. */
function idempotencyKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,200}$/.test(key)) {
    throw new HttpProblem('IDEMPOTENCY_KEY.INVALID', 'Use 1 to 200 visible ASCII characters');
  }
  return key;
}

/** Commands read JSON only: any other body is 415, never silently an empty one. */
export const requireJson: RequestHandler = (req, _res, next) => {
  // req.is() is null when there is no body at all, false when the body is of another type.
  if (req.is('application/json') === false) {
    return next(new HttpProblem('REQUEST.UNSUPPORTED_MEDIA_TYPE', 'Send application/json'));
  }
  next();
};

export function commandMetadata(req: Request, principal: Principal): CommandMetadata {
  const requestId = randomUUID();
  return {
    actor: actorOf(principal),
    now: new Date().toISOString(),
    correlationId: req.get('x-correlation-id') ?? requestId,
    causationId: requestId,
  };
}

/** `If-Match: "3"` pins revision 3. */
function ifMatch(req: Request): bigint | undefined {
  const header = req.get('if-match');
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"?(\d{1,18})"?$/.exec(header.trim());
  if (!match) {
    throw new HttpProblem('IF_MATCH.INVALID', 'If-Match must be a revision, e.g. "3"');
  }
  return BigInt(match[1]!);
}
