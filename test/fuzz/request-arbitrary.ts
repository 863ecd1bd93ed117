import fc from 'fast-check';
import { ROLES, type Role } from '../../src/auth/principal.js';
import { Ref } from './fuzz-values.js';
import { applyMutations, bodyText, forgedCursor, hostileHeader, hostileText, mutationsOf, positionLike, type HostileHeader, type Mutation, type RawText } from './mutations.js';
import { schemaArbitrary, type JsonSchema, type SchemaContext } from './openapi-arbitraries.js';
import type { Operation } from './operations.js';

export type Caller = Role | 'anonymous';
export type QueryValue = string | RawText | Ref | Ref[];
/** One `name=value` of the query string; `hostile` when the value is one no client should send. */
export interface QueryEntry {
  name: string;
  value: QueryValue;
  hostile?: true;
}

export type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown; mutations: Mutation[] }
  /** Not a JSON object: `parses` says whether express.json() takes it at all. */
  | { kind: 'text'; text: string; parses: boolean }
  /** Past the 1 MB limit. */
  | { kind: 'oversize' };

/** One request, as data: what fast-check draws, shrinks and the report prints. */
export interface FuzzRequest {
  operation: Operation;
  caller: Caller;
  path: (Ref | string | RawText)[];
  query: QueryEntry[];
  headers: HostileHeader[];
  body: Body;
}

/**
 * Requests over every operation. Most are clean but for one part (body, query, path, headers or
 * caller), so that a hostile value meets code past the checks of the other parts; some are clean
 * throughout (they move the objects along: create, approve, complete) and some hostile anywhere.
 */
export function requestArbitrary(operations: readonly Operation[]): fc.Arbitrary<FuzzRequest> {
  const ref = (pool: string, part?: 0 | 1) => newest.map((index) => new Ref(pool, index, part));
  const context: SchemaContext = { override: (path, schema) => fieldOverride(path, schema, ref) };
  return fc.oneof(
    ...operations.map((operation) => ({
      arbitrary: requestsFor(operation, context, ref),
      // Operations with more to get wrong are drawn more often.
      weight: 1 + (operation.body ? 1 : 0) + (operation.query.length >= 4 ? 2 : operation.query.length > 0 ? 1 : 0),
    })),
  );
}

type Parts = { [Part in keyof Omit<FuzzRequest, 'operation'>]: fc.Arbitrary<FuzzRequest[Part]> };

/** Mostly the newest few objects of a pool (index 0 is the newest): they are the likeliest to be in an early state. */
const newest = fc.oneof({ arbitrary: fc.nat(3), weight: 3 }, { arbitrary: fc.nat(40), weight: 1 });

/** Real ids for the path: the parts of one nested object share its index. */
function realPathOf(operation: Operation): fc.Arbitrary<Ref[]> {
  return fc.tuple(...operation.pathParams.map(() => newest)).map((indexes) =>
    operation.pathParams.map(({ pool, part }, i) => new Ref(pool, part === 1 ? indexes[i - 1]! : indexes[i]!, part)),
  );
}

function requestsFor(operation: Operation, context: SchemaContext, ref: (pool: string) => fc.Arbitrary<Ref>): fc.Arbitrary<FuzzRequest> {
  const allowed = operation.roles === 'every' ? ROLES : operation.roles;
  const others = ROLES.filter((role) => !allowed.includes(role));
  const realPath = realPathOf(operation);
  const clean: Parts = {
    caller: fc.constantFrom(...allowed),
    path: realPath,
    query: queryOf(operation, context, ref, 'valid'),
    headers: fc.constant([]),
    body: bodyOf(operation, context, 'valid'),
  };
  const hostile: Parts = {
    caller: fc.constantFrom<Caller>('anonymous', ...others),
    path: fc.tuple(...operation.pathParams.map(() => fc.oneof({ arbitrary: fc.uuid({ version: 4 }), weight: 1 }, { arbitrary: hostileText, weight: 3 }))),
    query: queryOf(operation, context, ref, 'hostile'),
    headers: fc.array(hostileHeader, { minLength: 1, maxLength: 2 }),
    body: bodyOf(operation, context, 'hostile'),
  };
  const anywhere: Parts = {
    caller: fc.oneof({ arbitrary: clean.caller, weight: 8 }, { arbitrary: hostile.caller, weight: 3 }),
    path: fc.tuple(...operation.pathParams.map(({ pool, part }) => fc.oneof({ arbitrary: newest.map((index) => new Ref(pool, index, part)), weight: 6 }, { arbitrary: fc.uuid({ version: 4 }), weight: 1 }, { arbitrary: hostileText, weight: 3 }))),
    query: queryOf(operation, context, ref, 'anywhere'),
    headers: fc.oneof({ arbitrary: clean.headers, weight: 3 }, { arbitrary: hostile.headers, weight: 2 }),
    body: bodyOf(operation, context, 'anywhere'),
  };
  const request = (parts: Parts) => fc.record({ operation: fc.constant(operation), ...parts });
  const takesBody = operation.method !== 'get' && operation.method !== 'delete';
  const variants = [
    { arbitrary: request(clean), weight: 3 },
    { arbitrary: request({ ...clean, body: hostile.body }), weight: operation.body ? 6 : takesBody ? 1 : 0 },
    { arbitrary: request({ ...clean, query: hostile.query }), weight: operation.query.length > 0 ? 4 : 0 },
    { arbitrary: request({ ...clean, path: hostile.path }), weight: operation.pathParams.length > 0 ? 2 : 0 },
    { arbitrary: request({ ...clean, headers: hostile.headers }), weight: 2 },
    { arbitrary: request({ ...clean, caller: hostile.caller }), weight: 1 },
    { arbitrary: request(anywhere), weight: 2 },
  ];
  return weighted(...variants);
}

type Mode = 'valid' | 'hostile' | 'anywhere';

/** Valid parameters; with `hostile`, one of them (or an unknown one) is not; `anywhere`: any of them may not be. */
function queryOf(operation: Operation, context: SchemaContext, ref: (pool: string) => fc.Arbitrary<Ref>, mode: Mode): fc.Arbitrary<QueryEntry[]> {
  const valid = operation.query.map(({ name, schema }) => queryValue(name, schema, context, ref));
  // A client sends a cursor only after a first page.
  const absent = (name: string, required: boolean) => (required ? 0 : name === 'cursor' ? 8 : 3);
  const validEntries = fc.tuple(
    ...operation.query.map(({ name, required }, i) =>
      weighted({ arbitrary: fc.constant<QueryEntry[]>([]), weight: absent(name, required) }, { arbitrary: valid[i]!.map((value): QueryEntry[] => [{ name, value }]), weight: 4 }),
    ),
  ).map((parts) => parts.flat());
  const hostileEntries = (name: string, i: number) =>
    fc.oneof(
      { arbitrary: hostileText.map((value): QueryEntry[] => [{ name, value, hostile: true }]), weight: 3 },
      // Given twice, a parameter arrives as an array.
      { arbitrary: fc.tuple(valid[i]!, valid[i]!).map(([a, b]): QueryEntry[] => [{ name, value: a }, { name, value: b }]), weight: 1 },
    );
  const unknown = fc
    .tuple(fc.constantFrom('extra', '__proto__', 'constructor', 'a[b]', 'limit[]', '', '\u0000'), fc.string({ maxLength: 8 }))
    .map(([name, value]): QueryEntry[] => [{ name, value }]);
  if (mode === 'valid') return validEntries;
  if (mode === 'hostile') {
    const wrong = fc.oneof({ arbitrary: unknown, weight: 1 }, ...operation.query.map(({ name }, i) => ({ arbitrary: hostileEntries(name, i), weight: 3 })));
    return fc.tuple(validEntries, wrong).map(([entries, bad]) => [...entries.filter((entry) => entry.name !== bad[0]!.name), ...bad]);
  }
  const each = operation.query.map(({ name, required }, i) =>
    weighted(
      { arbitrary: fc.constant<QueryEntry[]>([]), weight: absent(name, required) },
      { arbitrary: valid[i]!.map((value): QueryEntry[] => [{ name, value }]), weight: 4 },
      { arbitrary: hostileEntries(name, i), weight: 2 },
    ),
  );
  return fc.tuple(...each, fc.oneof({ arbitrary: fc.constant<QueryEntry[]>([]), weight: 8 }, { arbitrary: unknown, weight: 1 })).map((parts) => parts.flat());
}

/** A query value as a client would send it: numbers as text, lists comma-separated, ids from the pools. */
function queryValue(name: string, schema: JsonSchema, context: SchemaContext, ref: (pool: string) => fc.Arbitrary<Ref>): fc.Arbitrary<QueryValue> {
  const list = (pool: string) => fc.oneof(ref(pool), fc.array(ref(pool), { minLength: 1, maxLength: 3 }));
  const fromSchema = schemaArbitrary(schema, context, [name]).map((value) => (value instanceof Ref ? value : String(value)));
  if (['position', 'from', 'to'].includes(name)) return fc.oneof(positionLike, fromSchema);
  if (name === 'category') return list('category');
  if (name === 'type') return list('type');
  if (name === 'stream') return list('stream');
  return fromSchema;
}

/** Fields whose valid values are the seeded objects (dealId: a real deal), or need a shape of their own. */
function fieldOverride(path: readonly string[], schema: JsonSchema, ref: (pool: string) => fc.Arbitrary<Ref>): fc.Arbitrary<unknown> | undefined {
  const name = path.at(-1) ?? '';
  // A filter's entries: real categories, event types and streams.
  const listOf = { categories: 'category', eventTypes: 'type', streamIds: 'stream' }[name === '0' ? (path.at(-2) ?? '') : ''];
  if (listOf) return fc.oneof({ arbitrary: ref(listOf), weight: 9 }, { arbitrary: fc.string({ maxLength: 12 }), weight: 1 });
  const uuid = schema.format === 'uuid';
  const pool = { dealId: 'deal', deal: 'deal', agentId: 'agent', actionId: 'action' }[name];
  if (uuid || pool) return fc.oneof({ arbitrary: ref(pool ?? 'deal'), weight: 4 }, { arbitrary: fc.uuid({ version: 4 }), weight: 1 });
  if (name === 'owner' || name === 'proposedBy' || name === 'ownerId') return fc.oneof(ref('caller'), fc.string({ minLength: 1, maxLength: 12 }));
  // Addresses no one listens on: creating a subscription never reaches out (and no worker delivers here).
  if (name === 'url') return fc.constantFrom('http://127.0.0.1:9/hook', 'https://example.com/hook', 'http://[::1]:9/', 'http://localhost:9/', 'ftp://example.com/', 'javascript:alert(1)', 'http://user:pass@127.0.0.1:9/');
  if (name === 'secret') return fc.oneof({ arbitrary: fc.uint8Array({ minLength: 24, maxLength: 64 }).map((bytes) => `whsec_${Buffer.from(bytes).toString('base64')}`), weight: 4 }, { arbitrary: fc.string(), weight: 1 });
  if (name === 'cursor') return fc.oneof({ arbitrary: forgedCursor, weight: 3 }, { arbitrary: fc.string({ maxLength: 20 }), weight: 1 });
  if (name === 'from' || name === 'position') return fc.oneof(fc.constantFrom('start', 'end'), ref('position'), fc.stringMatching(/^[0-9a-f]{32}$/));
  return undefined;
}

function bodyOf(operation: Operation, context: SchemaContext, mode: Mode): fc.Arbitrary<Body> {
  if (operation.method === 'get' || operation.method === 'delete') return fc.constant({ kind: 'none' });
  // A POST that takes no body (enable, revoke, pause) still gets one now and then.
  const schema: JsonSchema = operation.body ?? { type: 'object', properties: {}, additionalProperties: false };
  const valid = schemaArbitrary(schema, context);
  const none = { arbitrary: fc.constant<Body>({ kind: 'none' }), weight: operation.body ? 0 : 30 };
  const json = { arbitrary: valid.map((value): Body => ({ kind: 'json', value, mutations: [] })), weight: 30 };
  const hostile = [
    { arbitrary: valid.chain((value) => mutationsOf(value, schema).map((mutations): Body => ({ kind: 'json', value: applyMutations(value, mutations), mutations }))), weight: 60 },
    { arbitrary: bodyText.map((text): Body => ({ kind: 'text', ...text })), weight: 10 },
    { arbitrary: fc.constant<Body>({ kind: 'oversize' }), weight: 1 },
  ];
  const variants = mode === 'valid' ? [none, json] : mode === 'hostile' ? hostile : [none, json, ...hostile];
  return weighted(...variants);
}

/** fc.oneof, leaving out what weighs nothing here. */
function weighted<T>(...variants: { arbitrary: fc.Arbitrary<T>; weight: number }[]): fc.Arbitrary<T> {
  return fc.oneof(...variants.filter((variant) => variant.weight > 0));
}
