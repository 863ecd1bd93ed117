import type { ServerOptions } from 'node:http';

export interface ServerTimeouts {
  /** The whole request, headers and body, must arrive within this (slow clients get 408). */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  /** An idle keep-alive connection closes after this. */
  keepAliveTimeoutMs: number;
}

/**
 * Options for the API's http.Server against slow clients: one that dribbles its headers or body
 * (slow loris) holds a connection only until its timeout. Node checks those timeouts on an interval
 * (30 s by default), which would let a request run that much past its limit: checking every half
 * second cuts it within half a second of it.
 */
export function serverOptions({ requestTimeoutMs, headersTimeoutMs, keepAliveTimeoutMs }: ServerTimeouts): ServerOptions {
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: headersTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(500, headersTimeoutMs, requestTimeoutMs),
  };
}
