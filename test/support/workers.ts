import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { EventStore, RecordedEvent } from '../../src/eventstore/contract.js';
import { StreamNotFoundError } from '../../src/eventstore/errors.js';
import { silentLogger } from '../../src/platform/logger.js';
import type { WorkerSettings } from '../../src/workers/job-context.js';
import { startWorkerHost, type WorkerHost, type WorkerHostOptions } from '../../src/workers/worker-host.js';
import { testOutbound, testSecretBox } from './secrets.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const prefixes = new Set<string>();

/** A BullMQ key prefix of its own, so tests sharing one Redis never see each other's jobs. Take it in a hook or test, not when a file loads. */
export function testPrefix(): string {
  const prefix = `dstest-${randomBytes(4).toString('hex')}`;
  prefixes.add(prefix);
  return prefix;
}

/** Deletes the keys of every prefix handed out so far: a test file leaves nothing in Redis. */
export async function dropTestPrefixes(url = REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    for (const prefix of prefixes) {
      for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 })) {
        if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
      }
      prefixes.delete(prefix);
    }
  } finally {
    redis.disconnect();
  }
}

/** A worker host (processors and relay) on the test's database and its own Redis prefix, with quick retries. */
export function startTestWorkers(
  context: { knex: Knex; store: EventStore; databaseUrl: string; prefix: string },
  { settings, ...options }: Partial<Omit<WorkerHostOptions, 'settings'>> & { settings?: Partial<WorkerSettings> } = {},
): Promise<WorkerHost> {
  return startWorkerHost({
    eventStore: context.store,
    knex: context.knex,
    logger: silentLogger(),
    databaseUrl: context.databaseUrl,
    redisUrl: REDIS_URL,
    prefix: context.prefix,
    concurrency: 4,
    lockMs: 5000,
    shutdownMs: 2000,
    attempts: 3,
    backoffMs: 50,
    settings: { agentRunIdleMs: 60_000, http: { executors: {}, secret: '', timeoutMs: 2000 }, webhookRetrySchedule: [50, 100], ...settings },
    box: testSecretBox,
    outbound: testOutbound,
    ...options,
  });
}

/** A stream's events, or none when it does not exist yet. */
export async function eventsOf(store: EventStore, streamId: string): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  try {
    for await (const event of store.readStream(streamId)) events.push(event);
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  return events;
}

export const typesOf = (events: RecordedEvent[]) => events.map((event) => event.type);
