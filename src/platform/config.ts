import { isIP } from 'node:net';
import { z } from 'zod';

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  const error = max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** `<points>/<seconds>`: so many requests per window of so many seconds; `off`: no limit. */
function budget(fallback: string) {
  const error = 'must be <points>/<seconds> (e.g. 100/60) or off';
  return z
    .string()
    .default(fallback)
    .transform((text, context) => {
      if (text === 'off') return undefined;
      const match = /^(\d{1,9})\/(\d{1,6})$/.exec(text);
      const [points, seconds] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
      if (points >= 1 && seconds >= 1 && seconds <= 86_400) return { points, seconds };
      context.addIssue({ code: 'custom', message: error });
      return z.NEVER;
    });
}

/** A comma list, blanks dropped. */
function commaList(text: string): string[] {
  return text.split(',').map((item) => item.trim()).filter(Boolean);
}

/** An address, a subnet (address/bits) or one of express's names for a range. */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', bits, extra] = entry.split('/');
  const family = isIP(address);
  if (!family || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** Every setting dealstream reads from the environment, with defaults that work on one machine. */
const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
  PORT: integer(0, 65535).default(3000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string')
    .default('postgres://postgres@127.0.0.1:5432/dealstream'),
  DATABASE_POOL_MAX: integer(1, 1000).default(10),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// connection string')
    .default('redis://127.0.0.1:6379'),
  EVENT_STORE: z.enum(['postgres', 'eventstoredb']).default('postgres'),
  EVENTSTORE_CONNECTION_STRING: z.string().regex(/^esdb(\+discover)?:\/\//, 'must be an esdb:// connection string').optional(),
  /** Largest serialized event (data plus metadata) the store accepts. */
  EVENT_MAX_BYTES: integer(1024).default(1024 * 1024),
  /** Fallback poll for subscribers; NOTIFY after commit is the normal wake-up. */
  SUBSCRIPTION_POLL_MS: integer(10).default(1000),
  /** At most one NOTIFY per this many milliseconds per process. */
  NOTIFY_INTERVAL_MS: integer(0).default(3),
  /** How long a query given a command's position waits for the read models to pass it. */
  CONSISTENCY_WAIT_MS: integer(0, 60_000).default(2000),
  /** How long a process trusts an API key it has checked (0: check on every request). */
  AUTH_CACHE_MS: integer(0, 3_600_000).default(5000),
  /** Events per projection transaction while catching up or rebuilding. */
  PROJECTION_BATCH_SIZE: integer(1, 100_000).default(2000),
  /** BullMQ's key prefix in Redis: the processes of one deployment share it. */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be letters, digits, _ or - (at most 64)').default('dealstream'),
  /** Jobs one worker process runs at once, per queue. */
  WORKER_CONCURRENCY: integer(1, 1000).default(8),
  /** How long a stopping worker waits for jobs in hand before releasing them to other workers. */
  WORKER_SHUTDOWN_MS: integer(0, 600_000).default(10_000),
  /** A job whose worker stops renewing its lock this long (it crashed) runs again elsewhere. */
  WORKER_LOCK_MS: integer(1000, 3_600_000).default(30_000),
  /** Attempts of a job before it is dead-lettered, with exponential backoff from JOB_BACKOFF_MS. */
  JOB_ATTEMPTS: integer(1, 100).default(5),
  JOB_BACKOFF_MS: integer(1, 3_600_000).default(1000),
  /**
   * Rate limits, each `<points>/<seconds>` or `off`, counted in Redis (REDIS_URL, keys under
   * QUEUE_PREFIX) so that every API process of a deployment shares them; while Redis is away each
   * process counts alone. ADDRESS: every request to /api and /admin/queues per client address,
   * before authentication. AUTH_FAILURES: refused credentials per client address; once spent, that
   * address is answered 429 before any credential is looked up. COMMAND, QUERY, EXPORT: per
   * principal, by route: writes under /api, reads under /api, and the audit export and feed
   * connections.
   */
  RATE_LIMIT_ADDRESS: budget('1200/60'),
  RATE_LIMIT_AUTH_FAILURES: budget('10/300'),
  RATE_LIMIT_COMMAND: budget('300/60'),
  RATE_LIMIT_QUERY: budget('600/60'),
  RATE_LIMIT_EXPORT: budget('20/60'),
  /**
   * Express's 'trust proxy': off (the client is the socket's address), a number of proxy hops, or a
   * comma list of proxy addresses, subnets or loopback/linklocal/uniquelocal whose X-Forwarded-For
   * names the client. Behind a proxy without it, every client shares the proxy's address limit.
   */
  TRUST_PROXY: z
    .string()
    .default('off')
    .transform((text, context) => {
      if (text === 'off' || text === '') return false;
      if (/^\d{1,2}$/.test(text)) return Number(text);
      const entries = commaList(text);
      if (entries.length > 0 && entries.every(isProxyAddress)) return entries;
      context.addIssue({ code: 'custom', message: 'must be off, a number of hops, or a comma list of addresses, subnets, loopback, linklocal or uniquelocal' });
      return z.NEVER;
    }),
  /** Browser origins (`https://app.example.com`, comma list) that may call /api cross-origin; none: CORS is off. */
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((text, context) => {
      const origins = commaList(text);
      if (origins.every(isOrigin)) return origins;
      context.addIssue({ code: 'custom', message: 'must be a comma list of origins such as https://app.example.com' });
      return z.NEVER;
    }),
  /** Open integration feeds (SSE) one API process holds at most: in all, and per principal. */
  FEED_MAX_CONNECTIONS: integer(1, 100_000).default(200),
  FEED_MAX_CONNECTIONS_PER_PRINCIPAL: integer(1, 100_000).default(5),
  /**
   * The API's HTTP server: a request must arrive whole (headers and body) within REQUEST, its headers
   * within HEADERS (slow clients are cut with 408); an idle keep-alive connection closes after
   * KEEP_ALIVE (behind a load balancer, longer than its idle timeout).
   */
  HTTP_REQUEST_TIMEOUT_MS: integer(1000, 3_600_000).default(30_000),
  HTTP_HEADERS_TIMEOUT_MS: integer(1000, 3_600_000).default(10_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: integer(0, 3_600_000).default(5000),
  /** A running agent run silent for this long is failed as timed out. */
  AGENT_RUN_IDLE_MS: integer(1000).default(15 * 60_000),
  /** Action kinds executed by calling an endpoint: a JSON object of kind to URL. */
  ACTION_HTTP_EXECUTORS: z
    .string()
    .default('{}')
    .transform((text, context) => {
      const parsed = z.record(z.string(), z.url({ protocol: /^https?$/ })).safeParse(safeJson(text));
      if (parsed.success) return parsed.data;
      context.addIssue({ code: 'custom', message: 'must be a JSON object of action kind to http(s) URL' });
      return z.NEVER;
    }),
  /** Signs the calls of the http executor (HMAC-SHA256); empty: unsigned. */
  ACTION_HTTP_SECRET: z.string().default(''),
  ACTION_HTTP_TIMEOUT_MS: integer(100, 600_000).default(10_000),
});

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return /^https?:$/.test(url.protocol) && url.origin === text;
  } catch {
    return false;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment; a bad setting throws one ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (result.success) {
    if (result.data.EVENT_STORE === 'eventstoredb' && !result.data.EVENTSTORE_CONNECTION_STRING) {
      throw new ConfigError('Invalid configuration: EVENTSTORE_CONNECTION_STRING is required when EVENT_STORE=eventstoredb');
    }
    if (result.data.HTTP_HEADERS_TIMEOUT_MS > result.data.HTTP_REQUEST_TIMEOUT_MS) {
      throw new ConfigError('Invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS (headers are part of the request)');
    }
    return result.data;
  }
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const got = env[name] === undefined ? '' : ` (got ${JSON.stringify(env[name])})`;
    return `${name}: ${issue.message}${got}`;
  });
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}
