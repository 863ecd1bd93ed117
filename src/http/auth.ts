import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';
import { authenticateKey, type Principal, type Role } from './api-keys.js';
import { sendProblem } from './problem.js';

/**
 * Every /api request names its caller with `Authorization: Bearer <key>`; the principal goes to
 * res.locals. Valid keys are remembered for `cacheMs` (a query saved on every request), so a
 * revoked key may keep working that long in a process that has just seen it.
 */
export function authenticate(knex: Knex, cacheMs = 5000): RequestHandler {
  const known = cacheMs > 0 ? new LRUCache<string, Principal>({ max: 10_000, ttl: cacheMs }) : undefined;
  const principalOf = async (key: string) => {
    const cached = known?.get(key);
    if (cached) return cached;
    const principal = await authenticateKey(knex, key);
    if (principal) known?.set(key, principal);
    return principal;
  };
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    const principal = match ? await principalOf(match[1]!) : undefined;
    if (!principal) {
      res.set('WWW-Authenticate', 'Bearer realm="dealstream"');
      return sendProblem(res, {
        type: '/problems/unauthenticated',
        title: 'Authentication required',
        status: 401,
        detail: match ? 'The API key is unknown or revoked' : 'Send an API key as "Authorization: Bearer <key>"',
      });
    }
    res.locals.principal = principal;
    next();
  };
}

/** Lets only these roles through (403 otherwise). */
export function requireRole(...roles: Role[]): RequestHandler {
  return (_req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    if (principal && roles.includes(principal.role)) return next();
    sendProblem(res, {
      type: '/problems/forbidden',
      title: 'Forbidden',
      status: 403,
      detail: `This needs one of the roles: ${roles.join(', ')}`,
    });
  };
}
