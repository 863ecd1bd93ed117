import type { Request, RequestHandler } from 'express';
import type { Authenticator } from '../auth/authenticator.js';
import { hasRole, type Principal, type Role } from '../auth/principal.js';
import { sendProblem } from './problem.js';

export interface AuthenticateOptions {
  /**
   * `Bearer <key or token>` for the API; for pages a browser opens (the queue dashboard), HTTP Basic
   * with the key as the password, which the browser asks for and resends.
   */
  scheme?: 'Bearer' | 'Basic';
  /** Told of each refused credential (the rate limits count them per client address). */
  onRejected?: (req: Request) => void | Promise<void>;
}

/** Names the caller of every request it guards (res.locals.principal), or answers 401. */
export function authenticate(authenticator: Authenticator, { scheme = 'Bearer', onRejected }: AuthenticateOptions = {}): RequestHandler {
  return async (req, res, next) => {
    const credential = credentialOf(req.get('authorization') ?? '', scheme);
    const principal = credential ? await authenticator.authenticate(credential) : undefined;
    if (!principal) {
      if (credential) await onRejected?.(req);
      res.set('WWW-Authenticate', `${scheme} realm="dealstream"${credential && scheme === 'Bearer' ? ', error="invalid_token"' : ''}`);
      return sendProblem(
        res,
        'AUTH.UNAUTHENTICATED',
        credential
          ? 'The credential is unknown, expired or revoked, or its principal is disabled'
          : scheme === 'Bearer'
            ? 'Send an API key or a token as "Authorization: Bearer <credential>"'
            : 'Sign in with any user name and an API key as the password',
      );
    }
    res.locals.principal = principal;
    next();
  };
}

function credentialOf(header: string, scheme: 'Bearer' | 'Basic'): string | undefined {
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
    sendProblem(res, 'AUTH.FORBIDDEN', `This needs one of the roles: ${roles.join(', ')}`);
  };
}
