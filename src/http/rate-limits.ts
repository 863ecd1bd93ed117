import type { Request, RequestHandler, Response } from 'express';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../platform/logger.js';
import { sendProblem } from './problem.js';
import { RateLimitStore, type Budget, type LimitMode, type Limiter } from './rate-limit-store.js';

/**
 * # Rate limits
 *
 * - `address`: every request to /api and /admin/queues, per client address, before authentication
 *   (a flood costs no credential check);
 * - `authentication`: refused credentials per client address; once spent, the address is answered
 *   429 before any credential is looked up, so guessing keys costs no queries;
 * - `command`, `query`, `export`: per principal after authentication, by route (routeClass).
 *
 * A refusal is 429 problem+json with Retry-After; answers also carry the IETF RateLimit headers
 * (draft 7) of the tightest limit they passed. A class set to `off` (undefined) is not counted.
 */
export type LimitClass = 'address' | 'authentication' | 'command' | 'query' | 'export';

export type RateLimitBudgets = Record<LimitClass, Budget | undefined>;

const WHAT: Record<LimitClass, string> = {
  address: 'requests from this address',
  authentication: 'failed authentications from this address',
  command: 'commands of this principal',
  query: 'queries of this principal',
  export: 'exports and feed connections of this principal',
};

export interface RateLimitsOptions {
  redisUrl: string;
  prefix: string;
  budgets: RateLimitBudgets;
  logger: Logger;
  commandTimeoutMs?: number;
}

export class RateLimits {
  private readonly store: RateLimitStore;
  private readonly limiters: Partial<Record<LimitClass, Limiter>> = {};

  constructor(private readonly options: RateLimitsOptions) {
    this.store = new RateLimitStore(options);
    for (const [name, budget] of Object.entries(options.budgets) as [LimitClass, Budget | undefined][]) {
      if (budget) this.limiters[name] = this.store.limiter(name, budget);
    }
  }

  /** Whether the limits hold across processes now (readiness reports it). */
  get mode(): LimitMode {
    return this.store.mode;
  }

  /** Per client address, then the failed-authentication gate: both before any credential is checked. */
  readonly beforeAuthentication: RequestHandler = async (req, res, next) => {
    const address = clientAddress(req);
    if (!(await this.take(res, 'address', address))) return;
    const failures = this.limiters.authentication;
    const spent = failures && (await this.answer(failures.get(address)));
    if (failures && spent && spent.consumedPoints >= failures.budget.points) return this.refuse(res, 'authentication', spent);
    next();
  };

  /** For authenticate()'s onRejected: counts a refused credential against the client's address. */
  readonly authenticationFailed = async (req: Request): Promise<void> => {
    const failures = this.limiters.authentication;
    if (failures) await this.answer(failures.consume(clientAddress(req)));
  };

  /** Per principal (res.locals.principal), by the class of the route; once per request. */
  readonly afterAuthentication: RequestHandler = async (req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!principal || res.locals[COUNTED]) return next();
    res.locals[COUNTED] = true;
    if (await this.take(res, routeClass(req), principal.id)) next();
  };

  async close(): Promise<void> {
    await this.store.close();
  }

  /** Takes a point of the class for the key: true to go on; false when the 429 is sent. */
  private async take(res: Response, name: LimitClass, key: string): Promise<boolean> {
    const limiter = this.limiters[name];
    if (!limiter) return true;
    const result = await this.answer(limiter.consume(key));
    if (!result) return true;
    advertise(res, limiter.budget, result);
    if (result.consumedPoints > limiter.budget.points) {
      this.refuse(res, name, result);
      return false;
    }
    return true;
  }

  /** The limiter's answer, refusals included; undefined if it failed (the request goes on: limits never fail one). */
  private async answer<T extends RateLimiterRes | null>(call: Promise<T>): Promise<T | RateLimiterRes | undefined> {
    try {
      return await call;
    } catch (error) {
      if (error instanceof RateLimiterRes) return error;
      this.options.logger.error('rate limiter failed; the request goes on', { error: (error as Error).message });
      return undefined;
    }
  }

  private refuse(res: Response, name: LimitClass, result: RateLimiterRes): void {
    const budget = this.limiters[name]!.budget;
    const seconds = Math.max(1, Math.ceil(result.msBeforeNext / 1000));
    advertise(res, budget, result, true);
    res.set('Retry-After', String(seconds));
    sendProblem(res, 'RATE_LIMITED', `The ${name} limit is spent: at most ${budget.points} ${WHAT[name]} per ${budget.seconds} s; try again in ${seconds} s`, { limit: name });
  }
}

/** res.locals: the request has counted against its principal (it may pass through authentication twice). */
const COUNTED = 'rateLimitCounted';
/** res.locals: the fewest requests left that the RateLimit headers advertise. */
const ADVERTISED = 'rateLimitAdvertised';

/**
 * The IETF RateLimit headers (draft 7 style) of the limit with the fewest requests left of those a
 * request passed, so a client sees what will stop it first.
 */
function advertise(res: Response, budget: Budget, result: RateLimiterRes, force = false): void {
  const remaining = Math.max(0, result.remainingPoints);
  const advertised = res.locals[ADVERTISED] as number | undefined;
  if (!force && advertised !== undefined && advertised <= remaining) return;
  res.locals[ADVERTISED] = remaining;
  res.set('RateLimit-Policy', `${budget.points};w=${budget.seconds}`);
  res.set('RateLimit', `limit=${budget.points}, remaining=${remaining}, reset=${Math.max(0, Math.ceil(result.msBeforeNext / 1000))}`);
}

/**
 * Which per-principal limit a request under /api counts against: exports (the NDJSON audit export
 * and feed connections, long and costly), commands (writes) or queries (reads). Express matches
 * routes without regard to case, so this does too.
 */
export function routeClass(req: Pick<Request, 'method' | 'originalUrl'>): 'command' | 'query' | 'export' {
  const path = req.originalUrl.split('?')[0]!;
  if (req.method === 'GET' && /^\/api\/(audit\/export|integrations\/feed\/?$)/i.test(path)) return 'export';
  return ['GET', 'HEAD', 'OPTIONS'].includes(req.method) ? 'query' : 'command';
}

/** The key a client's address counts under (the socket's, unless TRUST_PROXY names proxies). */
export function clientAddress(req: Pick<Request, 'ip' | 'socket'>): string {
  return addressKey(req.ip ?? req.socket.remoteAddress ?? 'unknown');
}

/**
 * IPv4 as it is (also when written as IPv4-mapped IPv6); IPv6 by its /64, since one host usually
 * holds a whole /64 and could otherwise take a new address per request.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.split('%')[0]!.split('::');
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups.slice(0, 4).map((group) => parseInt(group, 16).toString(16)).join(':')}::/64`;
}
