import fc from 'fast-check';
import { ROLES, type Role } from '../../src/auth/principal.js';
import { Ref } from './fuzz-values.js';
import { applyMutations, bodyText, hostileHeader, hostileText, mutationsOf, type HostileHeader, type Mutation, type RawText } from './mutations.js';
import { schemaArbitrary, type JsonSchema, type SchemaContext } from './openapi-arbitraries.js';
import type { Operation } from './operations.js';
import { queryOf, weighted, type Mode, type QueryEntry } from './query-arbitrary.js';
import { newest, seededValues, type RefOf } from './seeded-values.js';

export type Caller = Role | 'anonymous';

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
  const { ref, context } = seededValues();
  return fc.oneof(
    ...operations.map((operation) => ({
      arbitrary: requestsFor(operation, context, ref),
      // Operations with more to get wrong are drawn more often.
      weight: 1 + (operation.body ? 1 : 0) + (operation.query.length >= 4 ? 2 : operation.query.length > 0 ? 1 : 0),
    })),
  );
}

type Parts = { [Part in keyof Omit<FuzzRequest, 'operation'>]: fc.Arbitrary<FuzzRequest[Part]> };

/** Real ids for the path: the parts of one nested object share its index. */
function realPathOf(operation: Operation): fc.Arbitrary<Ref[]> {
  return fc.tuple(...operation.pathParams.map(() => newest)).map((indexes) =>
    operation.pathParams.map(({ pool, part }, i) => new Ref(pool, part === 1 ? indexes[i - 1]! : indexes[i]!, part)),
  );
}

function requestsFor(operation: Operation, context: SchemaContext, ref: RefOf): fc.Arbitrary<FuzzRequest> {
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
    path: fc.tuple(...operation.pathParams.map(({ pool, part }) => fc.oneof({ arbitrary: ref(pool, part), weight: 6 }, { arbitrary: fc.uuid({ version: 4 }), weight: 1 }, { arbitrary: hostileText, weight: 3 }))),
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
