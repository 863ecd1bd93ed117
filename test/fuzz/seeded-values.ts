import fc from 'fast-check';
import { Ref } from './fuzz-values.js';
import { forgedCursor } from './mutations.js';
import type { JsonSchema, SchemaContext } from './openapi-arbitraries.js';

/** A seeded object of a pool, by how new it is (and, for a nested one, which part of `parent/child`). */
export type RefOf = (pool: string, part?: 0 | 1) => fc.Arbitrary<Ref>;

/** Mostly the newest few objects of a pool (index 0 is the newest): they are the likeliest to be in an early state. */
export const newest = fc.oneof({ arbitrary: fc.nat(3), weight: 3 }, { arbitrary: fc.nat(40), weight: 1 });

/** Valid values that name the seeded objects, and the schema context that puts them in bodies and queries. */
export function seededValues(): { ref: RefOf; context: SchemaContext } {
  const ref: RefOf = (pool, part) => newest.map((index) => new Ref(pool, index, part));
  return { ref, context: { override: (path, schema) => fieldOverride(path, schema, ref) } };
}

/** Fields whose valid values are the seeded objects (dealId: a real deal), or need a shape of their own. */
function fieldOverride(path: readonly string[], schema: JsonSchema, ref: RefOf): fc.Arbitrary<unknown> | undefined {
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
