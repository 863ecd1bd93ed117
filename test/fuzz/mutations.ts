import fc from 'fast-check';
import { Nested, RawJson, Ref, percentEncode } from './fuzz-values.js';
import type { JsonSchema } from './openapi-arbitraries.js';

/** What a mutation did, as the report names it. */
export type MutationKind =
  | 'wrong-type'
  | 'drop-field'
  | 'unknown-field'
  | 'huge-string'
  | 'lone-surrogate'
  | 'nul'
  | 'deep-nesting'
  | 'odd-number'
  | 'bad-id'
  | 'hostile-key';

type Path = readonly (string | number)[];

/** One change to a valid value, as data: fast-check shrinks it, the report prints it. */
export type Mutation =
  | { kind: MutationKind; path: Path; op: 'replace'; value: unknown }
  | { kind: MutationKind; path: Path; op: 'insert'; at: number; piece: string }
  | { kind: MutationKind; path: Path; op: 'drop'; key: string }
  | { kind: MutationKind; path: Path; op: 'add'; key: string; value: unknown };

// Hostile pieces of text.

export const loneSurrogate = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\udc00\ud800');

/** Up to ~200 KB of one character (up to 4 UTF-8 bytes each): within the 1 MB body limit. */
export const hugeString = fc
  .record({ char: fc.constantFrom('x', ' ', 'é', '€', '😀'), units: fc.integer({ min: 10_000, max: 200_000 }) })
  .map(({ char, units }) => char.repeat(Math.ceil(units / char.length)));

/** Ids a client should never send: empty, control characters, traversal, wrong shapes, injections. */
export const BAD_IDS = [
  '', ' ', '\u0000', 'a\u0000b', '..', '.', '/', '%', '%00', 'null', 'undefined', '0', '-1', '1e308', 'NaN',
  '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF',
  '{00000000-0000-4000-8000-000000000000}', "' OR 1=1 --", '__proto__', 'constructor', 'deal-', 'x'.repeat(300),
  '\ud800', '😀', '\n', '<script>', 'deal-00000000-0000-4000-8000-000000000000\u0000',
];
export const badId = fc.constantFrom(...BAD_IDS);

/** Numbers at the edges of JSON and of JS, as JSON text. */
const ODD_NUMBER_TEXTS = ['1e308', '-1e308', '1e400', '-1e400', '-0', '0.5', '-1', '1.5e-400', '4.9e-324', '9007199254740993', '123456789012345678901234567890', '1E2'];
/** The same as strings (where a decimal string is expected: amounts, revisions, limits). */
export const ODD_NUMBER_STRINGS = ['NaN', 'Infinity', '-Infinity', '-0', '1e308', '1e400', '0x1f', ' 1', '1 ', '1_000', '+1', '.5', '5.', '00', '-1', '99999999999999999999', '1.00000000000000000001'];
export const oddNumber = fc.oneof(fc.constantFrom(...ODD_NUMBER_TEXTS).map((text) => new RawJson(text)), fc.constantFrom(...ODD_NUMBER_STRINGS));

/** 1 to 5,000 levels, mostly deep: the point is the deep end. */
export const deepNesting = fc
  .record({ depth: fc.oneof({ arbitrary: fc.integer({ min: 1_000, max: 5_000 }), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 100 }), weight: 1 }), shape: fc.constantFrom('array' as const, 'object' as const) })
  .map(({ depth, shape }) => new Nested(depth, shape));

const OTHER_TYPES: unknown[] = [0, -1, 1.5, true, false, null, '', 'text', [], {}, [1], { a: 1 }];
const UNKNOWN_KEYS = ['extra', '__proto__', 'constructor', 'prototype', '', 'x'.repeat(300), '$where', 'a.b', '\u0000', '\ud800'];

// Mutations of a valid value, aimed at where it is weakest.

interface Location {
  path: Path;
  value: unknown;
  schema: JsonSchema;
  /** Any JSON goes here (a payload, a tool's input): the store gets whatever the client sends. */
  freeForm: boolean;
}

/** One or two mutations of `value` (valid for `schema`), as data. */
export function mutationsOf(value: unknown, schema: JsonSchema): fc.Arbitrary<Mutation[]> {
  const locations = locationsOf(value, schema, [], false);
  const weighted = locations.map((location) => ({ arbitrary: mutationAt(location), weight: location.freeForm ? 6 : typeof location.value === 'string' ? 3 : 1 }));
  return fc.array(fc.oneof(...weighted), { minLength: 1, maxLength: 2 });
}

/** The value with the mutations applied (one whose place a former one removed is skipped). */
export function applyMutations(value: unknown, mutations: readonly Mutation[]): unknown {
  return mutations.reduce((current, mutation) => updateAt(current, mutation.path, (old) => applyOne(old, mutation)), value);
}

function mutationAt(location: Location): fc.Arbitrary<Mutation> {
  const { path, value, freeForm } = location;
  const replace = (kind: MutationKind, arbitrary: fc.Arbitrary<unknown>) => arbitrary.map((replacement): Mutation => ({ kind, path, op: 'replace', value: replacement }));
  const insert = (kind: MutationKind, pieces: fc.Arbitrary<string>) => fc.tuple(fc.nat(), pieces).map(([at, piece]): Mutation => ({ kind, path, op: 'insert', at, piece }));
  const choices: fc.Arbitrary<Mutation>[] = [replace('wrong-type', fc.constantFrom(...OTHER_TYPES.filter((other) => jsonType(other) !== jsonType(value)))), replace('deep-nesting', deepNesting)];
  if (typeof value === 'string') {
    choices.push(
      insert('lone-surrogate', loneSurrogate),
      insert('nul', fc.constant('\u0000')),
      replace('huge-string', hugeString),
      replace('bad-id', badId),
      replace('odd-number', fc.constantFrom(...ODD_NUMBER_STRINGS)),
    );
  }
  if (typeof value === 'number') choices.push(replace('odd-number', oddNumber));
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length > 0) choices.push(fc.constantFrom(...keys).map((key): Mutation => ({ kind: 'drop-field', path, op: 'drop', key })));
    choices.push(fc.tuple(fc.constantFrom(...UNKNOWN_KEYS), fc.jsonValue({ maxDepth: 1 })).map(([key, extra]): Mutation => ({ kind: 'unknown-field', path, op: 'add', key, value: extra })));
  }
  if (freeForm) {
    // Whatever the client sends is stored: the hostile values themselves, and keys too.
    choices.push(
      replace('deep-nesting', deepNesting),
      replace('deep-nesting', deepNesting),
      replace('lone-surrogate', loneSurrogate),
      replace('nul', fc.constantFrom('\u0000', 'a\u0000b')),
      replace('huge-string', hugeString),
      replace('odd-number', oddNumber),
    );
    if (isObject(value)) {
      choices.push(fc.tuple(fc.oneof(loneSurrogate, fc.constantFrom('\u0000', 'k\u0000')), fc.jsonValue({ maxDepth: 1 })).map(([key, extra]): Mutation => ({ kind: 'hostile-key', path, op: 'add', key, value: extra })));
    }
  }
  return fc.oneof(...choices);
}

function applyOne(old: unknown, mutation: Mutation): unknown {
  switch (mutation.op) {
    case 'replace':
      return mutation.value;
    case 'insert': {
      const text = typeof old === 'string' ? old : '';
      const at = mutation.at % (text.length + 1);
      return text.slice(0, at) + mutation.piece + text.slice(at);
    }
    case 'drop': {
      if (!isObject(old)) return old;
      const { [mutation.key]: _, ...rest } = old;
      return rest;
    }
    case 'add':
      // defineProperty: a key named __proto__ is an own field, as JSON.parse makes it on the server.
      return isObject(old) ? Object.defineProperty({ ...old }, mutation.key, { value: mutation.value, enumerable: true, writable: true, configurable: true }) : old;
  }
}

function updateAt(value: unknown, path: Path, update: (old: unknown) => unknown): unknown {
  if (path.length === 0) return update(value);
  const [head, ...rest] = path;
  if (Array.isArray(value) && typeof head === 'number' && head < value.length) return value.map((item, i) => (i === head ? updateAt(item, rest, update) : item));
  if (isObject(value) && typeof head === 'string' && Object.hasOwn(value, head)) {
    return Object.defineProperty({ ...value }, head, { value: updateAt(value[head], rest, update), enumerable: true, writable: true, configurable: true });
  }
  return value; // an earlier mutation took this place away
}

function locationsOf(value: unknown, schema: JsonSchema, path: Path, insideFreeForm: boolean): Location[] {
  const own = branchFor(value, schema);
  const freeForm = insideFreeForm || isFreeForm(own);
  const here: Location = { path, value, schema: own, freeForm };
  if (Array.isArray(value)) return [here, ...value.flatMap((item, i) => locationsOf(item, own.items ?? {}, [...path, i], freeForm))];
  if (isObject(value)) {
    const extra = typeof own.additionalProperties === 'object' ? own.additionalProperties : {};
    return [here, ...Object.entries(value).flatMap(([key, item]) => locationsOf(item, own.properties?.[key] ?? extra, [...path, key], freeForm))];
  }
  return [here];
}

/** Of anyOf's alternatives, the one this value is an instance of. */
function branchFor(value: unknown, schema: JsonSchema): JsonSchema {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (!alternatives) return schema;
  return alternatives.find((alternative) => [alternative.type].flat().includes(jsonType(value))) ?? alternatives[0] ?? {};
}

/** `{}` (z.unknown()) or a record with no fixed fields (z.record()). */
function isFreeForm(schema: JsonSchema): boolean {
  if (schema.type === undefined && !schema.anyOf && !schema.oneOf && !schema.enum && schema.const === undefined && !schema.$ref) return true;
  return schema.type === 'object' && !schema.properties && schema.additionalProperties !== false;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Nested) && !(value instanceof RawJson) && !(value instanceof Ref);
}

// Whole bodies that are not a JSON object.

export type BodyText = { text: string; parses: boolean };

/** Text that is not JSON (it `parses: false`), and JSON that is no object. */
export const bodyText: fc.Arbitrary<BodyText> = fc.oneof(
  fc.constantFrom('', '{', '{"a":', '{"a":1,}', "{'a':1}", 'nul', 'undefined', 'NaN', '{"a":1}{"b":2}', '\u0000', '{"a":"\\ud800', '{"a":01}', '{"a":1e}', '\ufeff{}').map((text) => ({ text, parses: false })),
  fc.string({ maxLength: 40 }).map((text) => ({ text, parses: false })),
  fc.constantFrom('null', 'true', '1', '"text"').map((text) => ({ text, parses: false })),
  fc.constantFrom('[]', '[1,2]', '[{}]', '{}').map((text) => ({ text, parses: true })),
);

// Headers.

/** A header value: text (within what HTTP allows: tab, visible ASCII, Latin-1), or a seeded object's id or position. */
export type HeaderValue = string | Ref;

const headerText = fc.string({ unit: fc.constantFrom(...'\tAZaz09 -_."\'/=;,:*()[]{}<>?@!#$%&+`~^|\\ÿé'.split('')), maxLength: 40 });
const longHeader = fc.integer({ min: 1_000, max: 6_000 }).map((length) => 'x'.repeat(length));

/** A position token: a seeded one, a random one (its halves up to 2^64 − 1), or not one. */
export const positionLike: fc.Arbitrary<HeaderValue> = fc.oneof(
  fc.nat(9).map((index) => new Ref('position', index)),
  fc.stringMatching(/^[0-9a-f]{32}$/),
  fc.constantFrom('0'.repeat(32), 'f'.repeat(32), '8000000000000000' + '0'.repeat(16), '0'.repeat(16) + '8000000000000000', '7fffffffffffffff7fffffffffffffff', 'F'.repeat(32), '0'.repeat(31), '0'.repeat(33), 'start', 'end', '-1'),
  headerText,
);

export const HOSTILE_HEADER_NAMES = ['if-match', 'idempotency-key', 'x-position', 'last-event-id', 'content-type', 'authorization', 'content-encoding', 'x-correlation-id'] as const;
export type HostileHeaderName = (typeof HOSTILE_HEADER_NAMES)[number];
export type HostileHeader = [HostileHeaderName, HeaderValue];

/** A few idempotency keys shared by the whole run, so that some requests repeat others. */
export const IDEMPOTENCY_KEYS = ['fuzz-key-1', 'fuzz-key-2', 'fuzz-key-3'];

const headerValues: Record<HostileHeaderName, fc.Arbitrary<HeaderValue>> = {
  'if-match': fc.oneof(
    fc.nat(5).map((revision) => `"${revision}"`),
    fc.constantFrom('*', '"-1"', '""', 'W/"1"', '"99999999999999999999"', '999999999999999999', '"1e3"', '0x1', '"1", "2"', 'W/', '"'),
    headerText,
    longHeader,
  ),
  'idempotency-key': fc.oneof(fc.constantFrom(...IDEMPOTENCY_KEYS), fc.constantFrom('', ' ', 'a b', 'é', 'x'.repeat(200), 'x'.repeat(201)), headerText, longHeader),
  'x-position': positionLike,
  'last-event-id': positionLike,
  'content-type': fc.constantFrom(
    'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/json; charset=latin1',
    'application/json; charset=nope', 'application/merge-patch+json', 'application/json;;', 'application/*', '*/*', 'json', '', 'application/xml',
  ),
  authorization: fc.oneof(
    fc.constantFrom('', 'Bearer', 'Bearer ', 'bearer x', 'Basic eDp5', 'Basic ' + Buffer.from('x:').toString('base64'), 'Bearer a.b.c', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'Token abc', 'Bearer x y'),
    headerText.map((text) => `Bearer ${text}`),
    longHeader.map((text) => `Bearer ${text}`),
  ),
  'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown', 'gzip, gzip'),
  // Appended to the run's own correlation id (which still leads it, so events are matched to requests).
  'x-correlation-id': fc.oneof(headerText, longHeader),
};

/** One header with a value no client should send (or, for Idempotency-Key and If-Match, one that repeats or pins). */
export const hostileHeader: fc.Arbitrary<HostileHeader> = fc.oneof(...HOSTILE_HEADER_NAMES.map((name) => headerValues[name].map((value): HostileHeader => [name, value])));

// Path segments and query values.

/** Already percent-encoded: some of them are not valid percent-encoding at all. */
export interface RawText {
  raw: string;
}

const UNDECODABLE = ['%', '%zz', '%E0%A4', '%FF', '%C0%AE', '%ED%A0%80', '%F4%90%80%80'];

/** A path segment or query value no client should send. */
export const hostileText: fc.Arbitrary<string | RawText> = fc.oneof(
  { arbitrary: badId, weight: 3 },
  // What a database refuses to store or compare: NUL bytes, and lone surrogates (which a URL can only carry as bad UTF-8).
  { arbitrary: fc.oneof(loneSurrogate, fc.constantFrom('\u0000', 'a\u0000', '\u0000a')), weight: 5 },
  { arbitrary: fc.constantFrom(...ODD_NUMBER_STRINGS), weight: 1 },
  { arbitrary: fc.constantFrom(...UNDECODABLE, '%2F', '%2e%2e', 'a%2Fb', '%25', '%20').map((raw) => ({ raw })), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 1 },
  // Long, but within the 16 KB node allows for a request's head (past it node answers 431 itself).
  { arbitrary: fc.integer({ min: 1_000, max: 4_000 }).map((length) => 'x'.repeat(length)), weight: 1 },
);

/** The text as it goes into a URL. */
export function encoded(value: string | RawText): string {
  return typeof value === 'string' ? percentEncode(value) : value.raw;
}

/** Whether the server can decode it at all (a bad escape is answered 400 before any route). */
export function decodable(raw: string): boolean {
  try {
    decodeURIComponent(raw);
    return true;
  } catch {
    return false;
  }
}

/**
 * A page cursor as the server makes them (base64url of a JSON tuple of the last row's keys), holding
 * keys a client forged: well-shaped ones (a time and an id, say), and hostile ones a shape check
 * may let through.
 */
const isoTime = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString());
const cursorKey = fc.oneof(
  { arbitrary: fc.oneof(isoTime, fc.uuid({ version: 4 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String), fc.string({ maxLength: 10 })), weight: 3 },
  { arbitrary: fc.oneof(loneSurrogate, fc.constantFrom('\u0000', 'a\u0000'), fc.constantFrom(...ODD_NUMBER_STRINGS)), weight: 1 },
);
export const forgedCursor: fc.Arbitrary<string> = fc
  .oneof(
    { arbitrary: fc.tuple(cursorKey, cursorKey), weight: 4 },
    { arbitrary: fc.array(fc.oneof(cursorKey, oddNumber), { maxLength: 3 }), weight: 1 },
  )
  .map((keys) => Buffer.from(`[${keys.map((key) => (key instanceof RawJson ? key.text : JSON.stringify(key))).join(',')}]`).toString('base64url'));
