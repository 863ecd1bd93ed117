import { z } from 'zod';

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  const error = max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
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
    return result.data;
  }
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const got = env[name] === undefined ? '' : ` (got ${JSON.stringify(env[name])})`;
    return `${name}: ${issue.message}${got}`;
  });
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}
