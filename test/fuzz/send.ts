import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { Ref, jsonText, percentEncode, preview, shortString } from './fuzz-values.js';
import { decodable, encoded } from './mutations.js';
import type { QueryValue } from './query-arbitrary.js';
import type { FuzzRequest } from './request-arbitrary.js';
import type { World } from './seed-world.js';

/** A request as it goes over the wire. */
export interface Sent {
  method: string;
  /** Path and query, percent-encoded. */
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The body as the report shows it. */
  bodyPreview?: string;
  /**
   * What the request got wrong on purpose where no field can be named: a body that is not JSON, a
   * path that is not valid percent-encoding, a hostile header (by name).
   */
  blame: string[];
}

export interface Outcome {
  /** 0: no answer. */
  status: number;
  contentType: string;
  body: unknown;
  location?: string;
  error?: string;
  /** An endless feed that ended by itself while read. */
  streamEnded?: boolean;
}

const OVERSIZE = 1_100_000;
/** Generous: the machine is slow and shared. */
const ANSWER_TIMEOUT_MS = 60_000;
/** How long a feed is read: until its first message after `retry:`, or this long. */
const FEED_READ_MS = 2_000;

/** Writes the request out: seeded ids resolved, the caller's key, a correlation id of its own. */
export function wireFormOf(fuzz: FuzzRequest, world: World, correlationId: string): Sent {
  const segments = [...fuzz.path];
  const path = fuzz.operation.template.replace(/\{\w+\}/g, () => {
    const value = segments.shift()!;
    return value instanceof Ref ? encodeURIComponent(world.resolve(value)) : encoded(value);
  });
  const query = fuzz.query.map(({ name, value }) => `${percentEncode(name)}=${queryText(value, world)}`).join('&');
  const headers: Record<string, string> = { 'x-correlation-id': correlationId };
  if (fuzz.caller !== 'anonymous') headers.authorization = `Bearer ${world.keys[fuzz.caller]}`;
  const blame: string[] = [];
  let body: Buffer | undefined;
  let bodyPreview: string | undefined;
  switch (fuzz.body.kind) {
    case 'json':
      body = Buffer.from(jsonText(fuzz.body.value, world.resolve));
      bodyPreview = preview(fuzz.body.value, world.resolve);
      // express.json() takes objects and arrays only: other JSON is as unreadable to it as no JSON.
      if (!/^[{[]/.test(body.toString('latin1', 0, 1))) blame.push('body');
      break;
    case 'text':
      body = Buffer.from(fuzz.body.text);
      bodyPreview = shortString(fuzz.body.text);
      if (!fuzz.body.parses) blame.push('body');
      break;
    case 'oversize':
      body = Buffer.from(`{"a":"${'x'.repeat(OVERSIZE)}"}`);
      bodyPreview = `{"a":"x…(${OVERSIZE} chars)"}`;
      break;
  }
  if (body) headers['content-type'] = 'application/json';
  for (const [name, value] of fuzz.headers) {
    const text = value instanceof Ref ? world.resolve(value) : value;
    headers[name] = name === 'x-correlation-id' ? correlationId + text : text;
    blame.push(name);
    // A body declared in another encoding or charset than it has is one the server cannot read.
    if (body && (name === 'content-encoding' || name === 'content-type')) blame.push('body');
  }
  if (!path.split('/').every(decodable)) blame.push('path');
  return { method: fuzz.operation.method, url: query ? `${path}?${query}` : path, headers, ...(body ? { body, bodyPreview } : {}), blame };
}

function queryText(value: QueryValue, world: World): string {
  if (Array.isArray(value)) return value.map((ref) => encodeURIComponent(world.resolve(ref))).join(',');
  return value instanceof Ref ? encodeURIComponent(world.resolve(value)) : encoded(value);
}

/** Sends it and reads the whole answer (an endless one briefly: see readFeed). */
export async function send(server: Server, sent: Sent, streaming: boolean): Promise<Outcome> {
  try {
    return streaming ? await readFeed(server, sent) : await readAnswer(server, sent);
  } catch (error) {
    return { status: 0, contentType: '', body: undefined, error: (error as Error).message };
  }
}

async function readAnswer(server: Server, sent: Sent): Promise<Outcome> {
  let pending = request(server)[sent.method as 'get'](sent.url).set(sent.headers).timeout({ response: ANSWER_TIMEOUT_MS, deadline: 2 * ANSWER_TIMEOUT_MS });
  // The raw bytes: a body that does not parse is a finding, not a crash of the harness.
  pending = pending.buffer(true).parse((res, done) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => done(null, Buffer.concat(chunks)));
  });
  // The bytes as they are: superagent would otherwise JSON-encode a Buffer under a JSON content type.
  if (sent.body) pending = pending.serialize((bytes: Buffer) => bytes as unknown as string).send(sent.body);
  const res = await pending.ok(() => true);
  const contentType = String(res.headers['content-type'] ?? '');
  const location = res.headers.location as string | undefined;
  return { status: res.status, contentType, body: parsed(res.body as Buffer, contentType), ...(location ? { location } : {}) };
}

/**
 * An endless answer: its status and headers, then what it sends within FEED_READ_MS. A feed that
 * works stays open; one that ends by itself failed after answering 200.
 */
async function readFeed(server: Server, sent: Sent): Promise<Outcome> {
  const { port } = server.address() as AddressInfo;
  const leave = new AbortController();
  const timer = setTimeout(() => leave.abort(), ANSWER_TIMEOUT_MS);
  try {
    const res = await fetch(`http://127.0.0.1:${port}${sent.url}`, { method: sent.method.toUpperCase(), headers: sent.headers, signal: leave.signal });
    const contentType = res.headers.get('content-type') ?? '';
    if (!contentType.startsWith('text/event-stream')) return { status: res.status, contentType, body: parsed(Buffer.from(await res.arrayBuffer()), contentType) };
    const reader = res.body!.getReader();
    const stop = setTimeout(() => leave.abort(), FEED_READ_MS);
    let text = '';
    let ended = false;
    try {
      // `retry:` comes first; a message after it shows the subscription running.
      while (text.split('\n\n').length < 3) {
        const { done, value } = await reader.read();
        if (done) {
          ended = true;
          break;
        }
        text += Buffer.from(value).toString();
      }
    } catch {
      // Read long enough: it is still open.
    } finally {
      clearTimeout(stop);
    }
    return { status: res.status, contentType, body: text, streamEnded: ended };
  } finally {
    clearTimeout(timer);
    leave.abort();
  }
}

function parsed(bytes: Buffer, contentType: string): unknown {
  const text = bytes.toString();
  if (!/[/+]json\b/.test(contentType)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
