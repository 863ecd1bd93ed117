/**
 * Whether an error means a dependency cannot be reached right now (so the answer is 503 and a retry
 * later will do), as opposed to a fault of the request or a bug. The one place that knows how
 * outages look: PostgreSQL (pg, knex) and the event store (EventStoreDB's client, the adapters).
 */
export type Dependency = 'postgres' | 'eventstore';

/**
 * Socket failures on the way to a server (node:net and DNS), as `code`. Not ECONNABORTED: that is
 * how a request body cut short by its client is reported.
 */
const SOCKET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE',
  'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND',
]);

/**
 * SQLSTATEs of a server that is going, gone or not there yet: class 08 (connection exception, but
 * not 08P01, a protocol violation), admin shutdown (57P01, `pg_ctl stop -m fast`), crash shutdown
 * (57P02), cannot connect now (57P03: starting up or shutting down), too many connections (53300).
 */
const SQLSTATES = new Set(['08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03', '53300']);

/**
 * What pg and knex say, without a code, when a connection dies or cannot be made in time. knex puts
 * the failed statement's SQL and ' - ' before the driver's words.
 */
const CONNECTION_MESSAGES = [
  /(^| - )Connection terminated( unexpectedly| due to connection timeout)?$/, // pg
  /(^| - )Client has encountered a connection error and is not queryable$/, // pg, a client whose socket failed
  /(^| - )timeout expired$/, // pg, connectionTimeoutMillis
  /^Connection ended unexpectedly$/, // knex, a pooled connection that died
  /^Knex: Timeout acquiring a connection\b/, // knex, the pool could make none within acquireConnectionTimeout
];

/**
 * EventStoreDB's client marks its errors with a `type` (matched here by value, so that this module
 * loads no gRPC): the server or the connection is down, a call ran out of time, or the client
 * dropped a failed channel (the adapter treats that as unavailable too). A cluster it cannot find
 * says so in plain words. The adapter's own EventStoreUnavailableError carries a stable code.
 */
const EVENT_STORE_TYPES = new Set(['unavailable', 'deadline-exceeded', 'cancelled']);
const EVENT_STORE_CODE = 'EVENT_STORE.UNAVAILABLE';
const DISCOVERY_FAILED = /^Failed to discover after \d+ attempts/;

/** The dependency the error says is unreachable, or undefined for any other error. */
export function unreachableDependency(error: unknown): Dependency | undefined {
  // The reason may be wrapped: an error's cause, or each address tried (AggregateError).
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0 && seen.size < 10) {
    const current = queue.shift();
    if (!(current instanceof Error) || seen.has(current)) continue;
    seen.add(current);
    const found = ownVerdict(current as Error & { code?: unknown; type?: unknown });
    if (found) return found;
    queue.push(current.cause, ...(current instanceof AggregateError ? current.errors : []));
  }
  return undefined;
}

function ownVerdict(error: Error & { code?: unknown; type?: unknown }): Dependency | undefined {
  if (error.code === EVENT_STORE_CODE || (typeof error.type === 'string' && EVENT_STORE_TYPES.has(error.type)) || DISCOVERY_FAILED.test(error.message)) {
    return 'eventstore';
  }
  if (typeof error.code === 'string' && (SOCKET_CODES.has(error.code) || SQLSTATES.has(error.code))) return 'postgres';
  if (CONNECTION_MESSAGES.some((message) => message.test(error.message))) return 'postgres';
  return undefined;
}
