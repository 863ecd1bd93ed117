import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ResponseValidator, type Exchange, type Violation } from './response-validator.js';

/** A JSON body larger than this is not kept (none of the API's is near it). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * Kept on globalThis: mocha may load this module twice (the root hooks through its require, a spec
 * through import), and both must share one watch and one list.
 */
const shared = ((globalThis as { [key: symbol]: unknown })[Symbol.for('dealstream.contract.answers')] ??= {
  validators: new WeakMap<object, ResponseValidator>(),
  violations: [] as Violation[],
  watching: false,
}) as { validators: WeakMap<object, ResponseValidator>; violations: Violation[]; watching: boolean };
const { validators, violations } = shared;

/**
 * Checks every answer of every dealstream app in this process against the description it serves,
 * whoever made the app (startTestApp, createApp) and however it is reached (supertest, a listening
 * server, fetch, EventSource). Node announces each request an HTTP server takes
 * (`http.server.request.start`); an app made by createApp holds its description in
 * `app.locals.openApi`, and its answers are checked as they end (streamed ones as they start).
 * What departs from the description waits in `takeViolations()`: the root hooks fail the test.
 */
export function watchAnswers(): void {
  if (shared.watching) return;
  shared.watching = true;
  subscribe('http.server.request.start', (message) => {
    const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server: Server };
    const description = servedDescription(server);
    if (!description) return;
    let validator = validators.get(description);
    if (!validator) validators.set(description, (validator = new ResponseValidator(description as Record<string, unknown>)));
    observe(request, response, (exchange) => {
      const violation = validator.check(exchange);
      if (violation) violations.push(violation);
    });
  });
}

/** The violations seen since the last call, which are then forgotten. */
export function takeViolations(): Violation[] {
  return violations.splice(0);
}

function servedDescription(server: Server): object | undefined {
  for (const listener of server.listeners('request')) {
    const locals = (listener as { locals?: { openApi?: object } }).locals;
    if (locals?.openApi) return locals.openApi;
  }
  return undefined;
}

/**
 * Hands the exchange over once: a JSON answer when it ends, with its body; any other (an event
 * stream, NDJSON, a page) when it starts, since its body is not read and a stream may end long after.
 */
function observe(request: IncomingMessage, response: ServerResponse, done: (exchange: Exchange) => void): void {
  const { method = 'GET', url = '/' } = request;
  const chunks: Buffer[] = [];
  let size = 0;
  let reported = false;
  const exchange = (): Exchange => ({
    method,
    url,
    requestHeaders: request.headers,
    status: response.statusCode,
    headers: Object.fromEntries(Object.entries(response.getHeaders()).map(([name, value]) => [name.toLowerCase(), value === undefined ? undefined : String(value)])),
    ...(size > 0 && size <= MAX_BODY_BYTES ? { body: Buffer.concat(chunks) } : {}),
  });
  const isJson = () => /^application\/(?:[\w.-]+\+)?json\b/i.test(String(response.getHeader('content-type') ?? ''));
  const keep = (chunk: unknown, encoding: unknown) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const buffer =
      typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array);
    size += buffer.length;
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  };
  const report = () => {
    if (reported) return;
    reported = true;
    try {
      done(exchange());
    } catch (error) {
      // The check must never break the answer; its own failure is a finding too.
      violations.push({ exchange: exchange(), operation: `${method} ${url}`, problems: [`the check failed: ${(error as Error).stack}`] });
    }
  };
  const { write, end } = response;
  response.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (!reported && !isJson()) report();
    keep(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  response.end = function (this: ServerResponse, ...args: unknown[]) {
    keep(args[0], args[1]);
    report();
    return (end as (...args: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
}
