import fc from 'fast-check';
import { Ref } from './fuzz-values.js';
import { hostileText, positionLike, type RawText } from './mutations.js';
import { schemaArbitrary, type JsonSchema, type SchemaContext } from './openapi-arbitraries.js';
import type { Operation } from './operations.js';
import type { RefOf } from './seeded-values.js';

export type QueryValue = string | RawText | Ref | Ref[];
/** One `name=value` of the query string; `hostile` when the value is one no client should send. */
export interface QueryEntry {
  name: string;
  value: QueryValue;
  hostile?: true;
}

export type Mode = 'valid' | 'hostile' | 'anywhere';

/** Valid parameters; with `hostile`, one of them (or an unknown one) is not; `anywhere`: any of them may not be. */
export function queryOf(operation: Operation, context: SchemaContext, ref: RefOf, mode: Mode): fc.Arbitrary<QueryEntry[]> {
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
    // Free text (an owner, a search) goes furthest into the database before anything refuses it.
    const wrong = fc.oneof({ arbitrary: unknown, weight: 1 }, ...operation.query.map(({ name, schema }, i) => ({ arbitrary: hostileEntries(name, i), weight: isFreeText(schema) ? 9 : 3 })));
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

function isFreeText(schema: JsonSchema): boolean {
  return schema.type === 'string' && !schema.enum && !schema.pattern && !schema.format;
}

/** A query value as a client would send it: numbers as text, lists comma-separated, ids from the pools. */
function queryValue(name: string, schema: JsonSchema, context: SchemaContext, ref: RefOf): fc.Arbitrary<QueryValue> {
  const list = (pool: string) => fc.oneof(ref(pool), fc.array(ref(pool), { minLength: 1, maxLength: 3 }));
  const fromSchema = schemaArbitrary(schema, context, [name]).map((value) => (value instanceof Ref ? value : String(value)));
  if (['position', 'from', 'to'].includes(name)) return fc.oneof(positionLike, fromSchema);
  if (name === 'category') return list('category');
  if (name === 'type') return list('type');
  if (name === 'stream') return list('stream');
  return fromSchema;
}

/** fc.oneof, leaving out what weighs nothing here. */
export function weighted<T>(...variants: { arbitrary: fc.Arbitrary<T>; weight: number }[]): fc.Arbitrary<T> {
  return fc.oneof(...variants.filter((variant) => variant.weight > 0));
}
