import type { Request, RequestHandler, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { decodePosition } from '../eventstore/position.js';
import type { Principal } from '../auth/principal.js';
import type { ReadPositions } from './read-positions.js';

export interface QueryContext {
  knex: Knex;
  principal: Principal;
  params: Record<string, string>;
}

export interface QueryRouteSpec<Query, Response> {
  /** Under /api. */
  path: string;
  summary: string;
  query: z.ZodType<Query>;
  /**
   * The answer's shape: the handler's result is typed by it and the OpenAPI description is
   * generated from it (as output), so the two cannot drift apart.
   */
  response: z.ZodType<Response>;
  /** The projections whose tables it reads: a position token waits for these. */
  reads: readonly string[];
  handler: (query: Query, context: QueryContext) => Promise<Response>;
}

// Each route is checked against its own types where it is declared (see commandRoute).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyQueryRoute = QueryRouteSpec<any, any>;

export function queryRoute<Query, Response>(spec: QueryRouteSpec<Query, Response>): AnyQueryRoute {
  return spec;
}

export interface QueryDependencies {
  knex: Knex;
  positions: ReadPositions;
  /** How long a query given a position waits for the read models to pass it. */
  consistencyWaitMs: number;
}

/** Every authenticated role may read these views. */
export function mountQueries(router: Router, deps: QueryDependencies, routes: readonly AnyQueryRoute[]): Router {
  for (const route of routes) router.get(route.path, queryHandler(deps, route));
  return router;
}

/**
 * Validates the query string (400 naming each field), then reads. Given a command's position
 * (`?position=` or `X-Position`), it first waits, bounded, until the read models it reads have
 * passed it; `X-Stale: true` says the wait ran out and the answer may miss that write.
 */
function queryHandler(deps: QueryDependencies, spec: AnyQueryRoute): RequestHandler {
  return async (req, res) => {
    const { position, ...rest } = req.query as Record<string, unknown>;
    const query = spec.query.parse(rest);
    const token = readPosition(req, position);
    if (token) {
      const reached = await deps.positions.waitFor(spec.reads, token, deps.consistencyWaitMs);
      res.set('X-Stale', reached ? 'false' : 'true');
    }
    const body = await spec.handler(query, { knex: deps.knex, principal: res.locals.principal as Principal, params: req.params as Record<string, string> });
    res.json(body);
  };
}

function readPosition(req: Request, parameter: unknown): string | undefined {
  const token = typeof parameter === 'string' ? parameter : req.get('x-position');
  if (token === undefined) return undefined;
  decodePosition(token, typeof parameter === 'string' ? 'position' : 'X-Position'); // 400 naming it when malformed
  return token;
}
