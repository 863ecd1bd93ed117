import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../platform/logger.js';

/**
 * Where rate limits are counted.
 *
 * Why rate-limiter-flexible: its RateLimiterRedis counts points per key with one atomic Lua call
 * (a fixed window that starts at a key's first point), so every API process on the same Redis
 * shares one count per client; and it takes an insurance limiter, a RateLimiterMemory it asks
 * instead whenever Redis fails, so a request never fails or waits because Redis is away. While
 * that lasts, limits hold per process: looser by the number of processes, never gone.
 *
 * `shared`: Redis answers. `per-process`: Redis is away, or connected but failing calls (a hung
 * one times out), and the insurance counts. A change is logged once, not per request, and
 * readiness reports it.
 */
export type LimitMode = 'shared' | 'per-process';

export interface Budget {
  points: number;
  seconds: number;
}

/** One class of limit: points consumed per key, refused with the wait when spent. */
export interface Limiter {
  readonly budget: Budget;
  /** Takes a point; rejects with RateLimiterRes (remaining, msBeforeNext) when none is left. */
  consume(key: string): Promise<RateLimiterRes>;
  /** What the key has used in its window, without taking a point (null: nothing yet). */
  get(key: string): Promise<RateLimiterRes | null>;
}

export interface RateLimitStoreOptions {
  redisUrl: string;
  /** Keys go under `<prefix>:ratelimit:`; the processes of one deployment share it (QUEUE_PREFIX). */
  prefix: string;
  logger: Logger;
  /** A Redis that is connected but does not answer counts as away after this long. */
  commandTimeoutMs?: number;
  /** After such a failure, how long calls go straight to the insurance before Redis is tried again. */
  retryMs?: number;
}

export class RateLimitStore {
  private readonly redis: Redis;
  private current: LimitMode | undefined;
  private closing = false;
  /** Until when a connected Redis that failed a call is left alone (0: it is asked). */
  private bypassUntil = 0;
  /** The options objects of calls the insurance answered: how a call learns Redis failed it. */
  private readonly insured = new WeakSet<object>();

  constructor(private readonly options: RateLimitStoreOptions) {
    // A client of its own: no offline queue, so while Redis is away a call fails at once (the
    // insurance answers) instead of waiting for a reconnection; a hung Redis times out.
    this.redis = new Redis(options.redisUrl, {
      connectionName: `dealstream-ratelimit-${process.pid}`,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 500,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    });
    // Without traffic the connection still tells: readiness sees an outage before a request does.
    this.redis.on('ready', () => {
      this.bypassUntil = 0;
      this.set('shared');
    });
    this.redis.on('close', () => this.set('per-process'));
    this.redis.on('error', () => this.set('per-process')); // (ioredis logs nothing, and must not throw)
  }

  /** Starting up counts as shared: the first failure says otherwise, once. */
  get mode(): LimitMode {
    return this.current ?? 'shared';
  }

  limiter(name: string, budget: Budget): Limiter {
    const insured = this.insured;
    const common = { keyPrefix: `${this.options.prefix}:ratelimit:${name}`, points: budget.points, duration: budget.seconds };
    class Insurance extends RateLimiterMemory {
      override consume(key: string | number, points?: number, options: object = {}) {
        insured.add(options);
        return super.consume(key, points, options);
      }
      override get(key: string | number, options: object = {}) {
        insured.add(options);
        return super.get(key, options);
      }
    }
    const insurance = new Insurance(common);
    const redis = new RateLimiterRedis({ ...common, storeClient: this.redis, rejectIfRedisNotReady: true, insuranceLimiter: insurance });
    // Each call passes an options object of its own, which the library hands on to the insurance.
    const observed = async <T>(call: (limiter: RateLimiterRedis | Insurance, options: object) => Promise<T>): Promise<T> => {
      if (Date.now() < this.bypassUntil) return call(insurance, {});
      const options = {};
      try {
        return await call(redis, options);
      } finally {
        // A disconnection is told by the connection itself. A connected Redis that failed the call
        // (it did not answer in time, say) is left alone for a while, so that requests do not each
        // wait out the timeout; the first call it answers afterwards makes the limits shared again.
        if (this.redis.status === 'ready' && this.insured.has(options)) {
          this.bypassUntil = Date.now() + (this.options.retryMs ?? 5000);
          this.set('per-process');
        } else if (this.redis.status === 'ready') this.set('shared');
      }
    };
    return {
      budget,
      consume: (key) => observed((limiter, options) => limiter.consume(key, 1, options)),
      get: (key) => observed((limiter, options) => limiter.get(key, options)),
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private set(mode: LimitMode): void {
    if (mode === this.current || this.closing) return;
    const previous = this.current;
    this.current = mode;
    if (mode === 'per-process') this.options.logger.warn('rate limits are counted per process: Redis is unreachable', { redis: redactedUrl(this.options.redisUrl) });
    else if (previous === 'per-process') this.options.logger.warn('rate limits are shared again: Redis is back', { redis: redactedUrl(this.options.redisUrl) });
  }
}

/** The URL without a password, for the log. */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
