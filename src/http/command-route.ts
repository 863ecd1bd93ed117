import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { handleCommand } from '../commands/handle-command.js';
import type { CommandMetadata, Decider, DomainEvent } from '../domain/shared/event.js';
import type { EventStore } from '../eventstore/contract.js';
import type { Principal, Role } from './api-keys.js';
import { requireRole } from './auth.js';
import { HttpProblem } from './problem.js';

export interface CommandRouteSpec<Body, C, E extends DomainEvent, S> {
  roles: Role[];
  body: z.ZodType<Body>;
  decider: Decider<C, E, S>;
  /** The stream the command addresses; `id` is the path's :id or, for creation, a new one. */
  streamId: (id: string) => string;
  /** Builds the command; it may read other streams first (a proposal needs its deal). */
  command: (body: Body, context: { id: string; metadata: CommandMetadata; principal: Principal }) => C | Promise<C>;
  /** Creation: 201 with a Location built from the new id. */
  location?: (id: string) => string;
}

/**
 * One route for one command: role check, body validation (400 naming each field), If-Match
 * (412 when stale), load-decide-append, and a reply with the new revision (also the ETag) and the
 * position token, which queries accept to read their own writes.
 */
export function commandRoute<Body, C, E extends DomainEvent, S>(store: EventStore, spec: CommandRouteSpec<Body, C, E, S>): RequestHandler[] {
  const handle: RequestHandler = async (req, res) => {
    const body = spec.body.parse(req.body ?? {});
    const principal = res.locals.principal as Principal;
    const id = spec.location ? randomUUID() : String(req.params.id);
    const metadata = commandMetadata(req, principal);
    const command = await spec.command(body, { id, metadata, principal });
    const result = await handleCommand(store, spec.streamId(id), spec.decider, command, {
      expectedRevision: ifMatch(req),
    });
    reply(res, spec.location ? 201 : 200, result.revision, result.position, spec.location?.(id));
  };
  return [requireRole(...spec.roles), requireJson, handle];
}

/** Commands read JSON only: any other body is 415, never silently an empty one. */
const requireJson: RequestHandler = (req, _res, next) => {
  // req.is() is null when there is no body at all, false when the body is of another type.
  if (req.is('application/json') === false) {
    return next(new HttpProblem({ type: '/problems/unsupported-media-type', title: 'Unsupported media type', status: 415, detail: 'Send application/json' }));
  }
  next();
};

function commandMetadata(req: Request, principal: Principal): CommandMetadata {
  const requestId = randomUUID();
  return {
    actor: { kind: principal.role === 'agent' ? 'agent' : 'user', id: principal.name },
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
    throw new HttpProblem({ type: '/problems/invalid-if-match', title: 'Invalid If-Match', status: 400, detail: 'If-Match must be a revision, e.g. "3"' });
  }
  return BigInt(match[1]!);
}

function reply(res: Response, status: number, revision: bigint | null, position: string | null, location?: string): void {
  if (revision !== null) res.set('ETag', `"${revision}"`);
  if (location) res.location(location);
  res.status(status).json({ revision: revision?.toString() ?? null, position });
}
