import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import { ROLES } from '../auth/principal.js';
import { parseCidrList } from './outbound-guard.js';
import { parseKeyring } from './secret-keyring.js';

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  const error = max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** What OIDC_ALGORITHMS may name: no HS* (HMAC with a public key as secret) and no `none`. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

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

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A comma list of durations (`5s,30s,2m,1h`): milliseconds, each from 1 ms to 7 days. */
function durations(fallback: string) {
  const error = 'must be a comma list of durations such as 5s,30s,2m,1h (units ms, s, m, h, d; each at most 7d)';
  return z
    .string()
    .default(fallback)
    .transform((text, context) => {
      const items = commaList(text).map((item) => /^(\d{1,9})(ms|s|m|h|d)$/.exec(item));
      const values = items.map((match) => (match ? Number(match[1]) * DURATION_UNITS[match[2] as keyof typeof DURATION_UNITS] : 0));
      if (values.length >= 1 && values.length <= 50 && values.every((ms) => ms >= 1 && ms <= 7 * DURATION_UNITS.d)) return values;
      context.addIssue({ code: 'custom', message: error });
      return z.NEVER;
    });
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
  // --- Secrets at rest and people's tokens (JWT). Checked together in tokenSettingsProblem below.
  /** Encrypts secrets at rest: `<keyId>:<base64 of 32 bytes>,…`; the first encrypts, all decrypt (rotation: put the new key first). */
  SECRETS_KEY: z
    .string()
    .optional()
    .transform((text, context) => {
      if (!text?.trim()) return undefined; // set but empty (e.g. from compose) is unset
      try {
        return parseKeyring(text);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** Without SECRETS_KEY, outside production: the key file (made on first use, mode 0600), relative to the working directory. */
  SECRETS_KEY_FILE: z.string().min(1).default('.dealstream/secrets.key'),
  /** dealstream's own tokens: their `iss` and `aud`. */
  AUTH_TOKEN_ISSUER: z.string().min(1).max(200).default('dealstream'),
  AUTH_TOKEN_AUDIENCE: z.string().min(1).max(200).default('dealstream'),
  /** Leeway for `exp` and `nbf` between clocks, in seconds. */
  AUTH_CLOCK_TOLERANCE_S: integer(0, 300).default(30),
  /** An external OpenID Connect provider whose tokens people sign in with (its `iss`, exactly). */
  OIDC_ISSUER: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, exactly as the tokens\' iss' }).optional(),
  /** Where its keys are published (its JWKS), or its one public key as PEM (SPKI); one of the two. */
  OIDC_JWKS_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  OIDC_PUBLIC_KEY: z
    .string()
    .optional()
    .transform((text, context) => {
      if (!text) return undefined;
      const pem = text.replace(/\\n/g, '\n'); // a PEM in one line of an env file
      try {
        if (!pem.includes('-----BEGIN PUBLIC KEY-----')) throw new Error('not SPKI');
        createPublicKey(pem);
        return pem;
      } catch {
        context.addIssue({ code: 'custom', message: 'must be a public key in PEM (-----BEGIN PUBLIC KEY-----)' });
        return z.NEVER;
      }
    }),
  /** The audiences dealstream accepts in its tokens (comma list); required with OIDC_ISSUER. */
  OIDC_AUDIENCE: z
    .string()
    .optional()
    .transform((text) => text?.split(',').map((audience) => audience.trim()).filter(Boolean))
    .refine((audiences) => audiences === undefined || audiences.length > 0, 'must name at least one audience'),
  /** The claim holding roles: a name (tried whole first, for names with dots), else a dot path (`realm_access.roles`); an array or a space-separated string. */
  OIDC_ROLES_CLAIM: z.string().regex(/^[^\s.]+(\.[^\s.]+)*$/, 'must be a claim name or a dot path (realm_access.roles)').default('roles'),
  /** JSON object of the provider's role value to a dealstream role; unmapped values that are not role names are ignored. */
  OIDC_ROLE_MAP: z
    .string()
    .default('{}')
    .transform((text, context) => {
      const parsed = z.record(z.string(), z.enum(ROLES)).safeParse(safeJson(text));
      if (parsed.success) return parsed.data;
      context.addIssue({ code: 'custom', message: `must be a JSON object of claim value to one of ${ROLES.join(', ')}` });
      return z.NEVER;
    }),
  /** Signature algorithms accepted from the provider: asymmetric only, so a public key can never serve as an HMAC secret. */
  OIDC_ALGORITHMS: z
    .string()
    .default('RS256,ES256,PS256,EdDSA')
    .transform((text, context) => {
      const algorithms = text.split(',').map((alg) => alg.trim()).filter(Boolean);
      const refused = algorithms.filter((alg) => !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg));
      if (algorithms.length > 0 && refused.length === 0) return algorithms as AsymmetricAlgorithm[];
      context.addIssue({ code: 'custom', message: `must be a comma list of ${ASYMMETRIC_ALGORITHMS.join(', ')} (asymmetric only; refused: ${refused.join(', ') || 'none given'})` });
      return z.NEVER;
    }),
  /** The claim naming the person (then `preferred_username`). */
  OIDC_NAME_CLAIM: z.string().min(1).default('name'),
  // --- end of secrets and tokens
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
  RATE_LIMIT_ADDRESS: budget('6000/60'),
  RATE_LIMIT_AUTH_FAILURES: budget('20/300'),
  RATE_LIMIT_COMMAND: budget('1200/60'),
  RATE_LIMIT_QUERY: budget('1800/60'),
  RATE_LIMIT_EXPORT: budget('60/60'),
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
  /** Decider state is snapshotted every this many events of a stream: a process new to a stream reads at most this many. */
  SNAPSHOT_EVERY: integer(1, 1_000_000).default(100),
  /** A running agent run silent for this long is failed as timed out. */
  AGENT_RUN_IDLE_MS: integer(1000).default(15 * 60_000),
  /**
   * Action kinds executed by calling an endpoint: a JSON object of kind to URL. A kind dealstream
   * does not describe is offered with any object as its payload; set it alike on the API and the workers.
   */
  ACTION_HTTP_EXECUTORS: z
    .string()
    .default('{}')
    .transform((text, context) => {
      // Kinds are named as proposals name them (snake_case, see ProposeActionBody).
      const parsed = z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), z.url({ protocol: /^https?$/ })).safeParse(safeJson(text));
      if (parsed.success) return parsed.data;
      context.addIssue({ code: 'custom', message: 'must be a JSON object of snake_case action kind to http(s) URL' });
      return z.NEVER;
    }),
  /** Signs the calls of the http executor (HMAC-SHA256); empty: unsigned. */
  ACTION_HTTP_SECRET: z.string().default(''),
  ACTION_HTTP_TIMEOUT_MS: integer(100, 600_000).default(10_000),
  /**
   * The waits before each retry of a webhook event that was not delivered; once they are spent the
   * subscription is suspended at that event (never skipped past). The default spans about 35 hours,
   * so a receiver may be down for a day and still get everything, as Stripe's and Svix's do.
   */
  WEBHOOK_RETRY_SCHEDULE: durations('5s,30s,2m,10m,30m,1h,3h,6h,12h,12h'),
  /**
   * Outbound calls (webhooks, the http executor, OIDC_JWKS_URL) refuse loopback, private, link-local
   * and other internal addresses; this comma list of CIDRs or addresses (`10.20.0.0/16,fd00::/8`)
   * may be reached all the same: tests and on-premises receivers. Metadata services stay refused.
   */
  OUTBOUND_ALLOW_PRIVATE: z
    .string()
    .default('')
    .transform((text, context) => {
      try {
        return parseCidrList(text);
      } catch (error) {
        context.addIssue({ code: 'custom', message: `must be a comma list of CIDRs: ${(error as Error).message}` });
        return z.NEVER;
      }
    }),
});

/** The token settings that only make sense together. */
function tokenSettingsProblem(config: z.infer<typeof ConfigSchema>): string | undefined {
  const keySources = [config.OIDC_JWKS_URL, config.OIDC_PUBLIC_KEY].filter(Boolean).length;
  if (!config.OIDC_ISSUER) {
    return keySources > 0 || config.OIDC_AUDIENCE ? 'OIDC_ISSUER is required with OIDC_JWKS_URL, OIDC_PUBLIC_KEY or OIDC_AUDIENCE' : undefined;
  }
  if (config.OIDC_ISSUER === config.AUTH_TOKEN_ISSUER) return 'OIDC_ISSUER must differ from AUTH_TOKEN_ISSUER (the issuer tells whose keys to check)';
  if (!config.OIDC_AUDIENCE) return 'OIDC_AUDIENCE is required with OIDC_ISSUER';
  if (keySources !== 1) return 'exactly one of OIDC_JWKS_URL and OIDC_PUBLIC_KEY is required with OIDC_ISSUER';
  return undefined;
}

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

/** Variables whose values an error never repeats: the message goes to stderr and the logs. */
const SECRET_VARIABLES = new Set(['SECRETS_KEY', 'ACTION_HTTP_SECRET']);

/** Parses the environment; a bad setting throws one ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (result.success) {
    if (result.data.EVENT_STORE === 'eventstoredb' && !result.data.EVENTSTORE_CONNECTION_STRING) {
      throw new ConfigError('Invalid configuration: EVENTSTORE_CONNECTION_STRING is required when EVENT_STORE=eventstoredb');
    }
    const tokens = tokenSettingsProblem(result.data);
    if (tokens) throw new ConfigError(`Invalid configuration: ${tokens}`);
    if (result.data.HTTP_HEADERS_TIMEOUT_MS > result.data.HTTP_REQUEST_TIMEOUT_MS) {
      throw new ConfigError('Invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS (headers are part of the request)');
    }
    return result.data;
  }
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const got = env[name] === undefined || SECRET_VARIABLES.has(name) ? '' : ` (got ${JSON.stringify(env[name])})`;
    return `${name}: ${issue.message}${got}`;
  });
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}
