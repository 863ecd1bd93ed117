import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

/**
 * A Redis connection for one purpose. Workers block on Redis and must wait out an outage
 * (`maxRetriesPerRequest: null`, as BullMQ requires); producers and checks fail fast instead
 * (no offline queue), so a caller sees the outage and decides what to do.
 */
export function createRedis(url: string, purpose: 'worker' | 'producer', logger?: Logger): Redis {
  const redis = new Redis(url, {
    connectionName: `dealstream-${purpose}-${process.pid}`,
    ...(purpose === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false }),
    // Reconnect with backoff, capped: an outage ends when Redis is back, whenever that is.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
  });
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down) logger?.warn('redis unavailable; retrying', { purpose, error: error.message });
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger?.info('redis is back', { purpose });
    down = false;
  });
  return redis;
}

/**
 * Settings under which Redis may drop jobs: an eviction policy other than noeviction deletes keys
 * when memory runs short, and a Redis that keeps nothing on disk forgets every job when it
 * restarts. Returned as warnings, for the log at start-up.
 */
export async function jobLosingSettings(redis: Redis): Promise<string[]> {
  await whenReady(redis, 2000);
  const setting = async (name: string) => ((await redis.config('GET', name)) as string[])[1] ?? '';
  const [policy, appendOnly, save] = await Promise.all([setting('maxmemory-policy'), setting('appendonly'), setting('save')]);
  const warnings: string[] = [];
  if (policy !== 'noeviction') warnings.push(`maxmemory-policy is ${policy}: Redis may evict queued jobs under memory pressure; set it to noeviction`);
  if (appendOnly !== 'yes' && save.trim() === '') warnings.push('Redis keeps nothing on disk (appendonly no, no save points): a restart loses every queued job; turn on appendonly');
  return warnings;
}

/** Resolves once the connection is ready; rejects after `timeoutMs` (the connection keeps trying). */
export async function whenReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', ready);
      reject(new Error(`redis not ready after ${timeoutMs} ms (${redis.status})`));
    }, timeoutMs);
    const ready = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', ready);
  });
}
