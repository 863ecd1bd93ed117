import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';
import { hasRole, type Principal, type Role } from '../auth/principal.js';
import { authenticateKey } from './api-keys.js';
import { sendProblem } from './problem.js';

/**
 * Every /api request names its caller with `Authorization: Bearer <key>`; the principal goes to
 * res.locals. Valid keys are remembered for `cacheMs` (a query saved on every request), so a
 * revoked key may keep working that long in a process that has just seen it.
 */
export function authenticate(knex: Knex, cacheMs = 5000, scheme: 'Bearer' | 'Basic' = 'Bearer'): RequestHandler {
  const known = cacheMs > 0 ? new LRUCache<string, Principal>({ max: 10_000, ttl: cacheMs }) : undefined;
  const principalOf = async (key: string) => {
    const cached = known?.get(key);
    if (cached) return cached;
    const principal = await authenticateKey(knex, key);
    if (principal) known?.set(key, principal);
    return principal;
  };
  return async (req, res, next) => {
    const key = keyOf(req.get('authorization') ?? '', scheme);
    const principal = key ? await principalOf(key) : undefined;
    if (!principal) {
      res.set('WWW-Authenticate', `${scheme} realm="dealstream"`);
      return sendProblem(res, {
        type: '/problems/unauthenticated',
        title: 'Authentication required',
        status: 401,
        detail: key ? 'The API key is unknown or revoked' : scheme === 'Bearer' ? 'Send an API key as "Authorization: Bearer <key>"' : 'Sign in with any user name and an API key as the password',
      });
    }
    res.locals.principal = principal;
    next();
  };
}

/**
 * The key in an Authorization header: `Bearer <key>` for the API; for pages a browser opens (the
 * queue dashboard), HTTP Basic with the key as the password, which the browser asks for and resends.
 */
function keyOf(header: string, scheme: 'Bearer' | 'Basic'): string | undefined {
  const match = /^(\S+)\s+(\S+)$/.exec(header);
  if (!match || match[1]!.toLowerCase() !== scheme.toLowerCase()) return undefined;
  if (scheme === 'Bearer') return match[2];
  const decoded = Buffer.from(match[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined;
}

/** Lets only these roles through (403 otherwise). */
export function requireRole(...roles: Role[]): RequestHandler {
  return (_req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    if (principal && hasRole(principal, roles)) return next();
    sendProblem(res, {
      type: '/problems/forbidden',
      title: 'Forbidden',
      status: 403,
      detail: `This needs one of the roles: ${roles.join(', ')}`,
    });
  };
}
