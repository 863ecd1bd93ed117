import { expect } from 'chai';
import { z } from 'zod';
import { UnknownSchemaVersionError, UpcasterRegistry, upcaster } from '../../../src/domain/shared/upcasting.js';

// A type that changed twice: v1 { name } -> v2 { fullName } -> v3 { first, last }.
const V1 = z.object({ name: z.string() });
const V2 = z.object({ fullName: z.string() });
type V3 = { first: string; last: string };
const renamed = upcaster<z.infer<typeof V1>, z.infer<typeof V2>>({ type: 'PersonNamed', fromVersion: 1, schema: V1, upcast: ({ name }) => ({ fullName: name }) });
const split = upcaster<z.infer<typeof V2>, V3>({
  type: 'PersonNamed',
  fromVersion: 2,
  schema: V2,
  upcast: ({ fullName }) => {
    const [first = '', ...last] = fullName.split(' ');
    return { first, last: last.join(' ') };
  },
});
// Listed out of order on purpose: the registry orders each type's chain by version.
const registry = new UpcasterRegistry([split, renamed]);

const meta = { actor: { kind: 'user', id: 'ana' }, occurredAt: '2026-01-01T00:00:00.000Z' };
const event = (data: object, schemaVersion?: unknown) => ({
  type: 'PersonNamed',
  data,
  metadata: schemaVersion === undefined ? { ...meta } : { ...meta, schemaVersion },
});

/** Frozen all the way down: upcasting must not write to what it was given. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

describe('upcasting: the registry of schema versions', () => {
  it('knows each type’s current version: one more than its upcasters, 1 for a type never changed', () => {
    expect(registry.currentVersion('PersonNamed')).to.equal(3);
    expect(registry.currentVersion('SomethingElse')).to.equal(1);
    expect([...registry.earlierSchemas('PersonNamed').keys()]).to.deep.equal([1, 2]);
    expect(registry.earlierSchemas('SomethingElse').size).to.equal(0);
  });

  it('applies the whole chain to a version-1 event and stamps the current version', () => {
    expect(registry.upcast(event({ name: 'Ada King Lovelace' }, 1))).to.deep.equal(event({ first: 'Ada', last: 'King Lovelace' }, 3));
  });

  it('applies only the steps after the stored version', () => {
    expect(registry.upcast(event({ fullName: 'Grace Hopper' }, 2))).to.deep.equal(event({ first: 'Grace', last: 'Hopper' }, 3));
  });

  it('counts an event without a schema version as version 1', () => {
    expect(registry.upcast(event({ name: 'Alan Turing' }))).to.deep.equal(event({ first: 'Alan', last: 'Turing' }, 3));
    // A type never changed: only the version is written down.
    const unversioned = { type: 'SomethingElse', data: { n: 1 }, metadata: { ...meta } };
    expect(registry.upcast(unversioned)).to.deep.equal({ ...unversioned, metadata: { ...meta, schemaVersion: 1 } });
  });

  it('returns an event already in the current shape as it is, without a copy', () => {
    const current = event({ first: 'Ada', last: 'Lovelace' }, 3);
    expect(registry.upcast(current)).to.equal(current);
  });

  it('refuses a version newer than it knows, and anything that is not a version, rather than misreading it', () => {
    for (const version of [4, 99]) {
      expect(() => registry.upcast(event({ whatever: 1 }, version)))
        .to.throw(UnknownSchemaVersionError, `PersonNamed at schema version ${version} is newer than this code knows (up to 3)`);
    }
    expect(() => registry.upcast({ type: 'SomethingElse', data: {}, metadata: { schemaVersion: 2 } })).to.throw(UnknownSchemaVersionError, 'newer');
    for (const version of [0, -1, 1.5, '2', null, { v: 1 }]) {
      expect(() => registry.upcast(event({ name: 'x' }, version)), JSON.stringify(version)).to.throw(UnknownSchemaVersionError, 'not a version');
    }
  });

  it('is pure: the stored event is left as it was, and the same input gives the same output', () => {
    const stored = deepFreeze(event({ name: 'Ada Lovelace', extra: { kept: true } }, 1));
    const copy = structuredClone(stored);
    const once = registry.upcast(stored);
    expect(stored).to.deep.equal(copy);
    expect(registry.upcast(stored)).to.deep.equal(once);
    expect(once.metadata).to.not.equal(stored.metadata);
  });

  it('stamps a new event with its type’s current version', () => {
    expect(registry.stamp(event({ first: 'A', last: 'B' }, 1)).metadata).to.deep.equal({ ...meta, schemaVersion: 3 });
    expect(registry.stamp({ type: 'SomethingElse', data: {}, metadata: { schemaVersion: 7 } }).metadata).to.deep.equal({ schemaVersion: 1 });
  });

  it('refuses to be built with a gap or a repeat in a type’s chain: a stored version would have no path', () => {
    expect(() => new UpcasterRegistry([split])).to.throw('upcasters of PersonNamed must read versions 1, 2, 3… once each; found 2');
    expect(() => new UpcasterRegistry([renamed, renamed])).to.throw('found 1, 1');
  });
});
