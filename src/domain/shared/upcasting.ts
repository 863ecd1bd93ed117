import type { z } from 'zod';

/**
 * Turns the data of one event type at one schema version into the next version's. Stored events
 * never change; a breaking change to a type's shape adds one of these, and readers see the current
 * shape (DESIGN.md, "Events evolve by upcasting").
 */
export interface Upcaster<From = unknown, To = unknown> {
  type: string;
  /** The version it reads; it returns `fromVersion + 1`. */
  fromVersion: number;
  /** The shape it reads, kept so that the stored events of that version can still be described to integrators. */
  schema: z.ZodType<From>;
  /** Pure: returns new data, never changes what it is given. */
  upcast(data: From): To;
}

/** Checks one upcaster against its own types where it is declared (a registry holds them untyped). */
export const upcaster = <From, To>(spec: Upcaster<From, To>): Upcaster => spec as unknown as Upcaster;

/** What upcasting reads and writes of an event: recorded ones and the domain's alike. */
export interface VersionedEvent {
  type: string;
  data: unknown;
  metadata: object;
}

/**
 * An event whose schema version this code cannot read: newer than it knows (written by a later
 * release; reading it as an older shape would misread it), or not a version at all.
 */
export class UnknownSchemaVersionError extends Error {
  constructor(
    readonly eventType: string,
    readonly schemaVersion: unknown,
    readonly currentVersion: number,
  ) {
    super(
      typeof schemaVersion === 'number' && Number.isInteger(schemaVersion) && schemaVersion > currentVersion
        ? `${eventType} at schema version ${schemaVersion} is newer than this code knows (up to ${currentVersion}): run a release that knows it`
        : `${eventType} has schema version ${JSON.stringify(schemaVersion)}, which is not a version (1 to ${currentVersion})`,
    );
    this.name = 'UnknownSchemaVersionError';
  }
}

/** An event's stored schema version: one without (written before versions were kept) counts as 1; a null is no version. */
export function storedSchemaVersion(event: VersionedEvent): unknown {
  const { schemaVersion } = event.metadata as { schemaVersion?: unknown };
  return schemaVersion === undefined ? 1 : schemaVersion;
}

/**
 * Every upcaster of the domain, by type and version. A type without upcasters is at version 1.
 * Each type's upcasters must run from version 1 without a gap, so that any stored version has a
 * path to the current one; a registry that breaks this refuses to be built.
 */
export class UpcasterRegistry {
  private readonly chains = new Map<string, Upcaster[]>();

  constructor(upcasters: readonly Upcaster[]) {
    for (const entry of upcasters) {
      const chain = this.chains.get(entry.type) ?? [];
      chain.push(entry);
      this.chains.set(entry.type, chain);
    }
    for (const [type, chain] of this.chains) {
      chain.sort((a, b) => a.fromVersion - b.fromVersion);
      chain.forEach((entry, index) => {
        if (entry.fromVersion !== index + 1) {
          throw new Error(`upcasters of ${type} must read versions 1, 2, 3… once each; found ${chain.map((e) => e.fromVersion).join(', ')}`);
        }
      });
    }
  }

  /** The version writers stamp on a new event of this type. */
  currentVersion(type: string): number {
    return (this.chains.get(type)?.length ?? 0) + 1;
  }

  /** The shapes a type had before its current one, by version (none for a type never changed). */
  earlierSchemas(type: string): ReadonlyMap<number, z.ZodType> {
    return new Map((this.chains.get(type) ?? []).map((entry) => [entry.fromVersion, entry.schema]));
  }

  /**
   * The event in its type's current shape, with that version in its metadata. An event already
   * current is returned as it is (no copy: rebuilds upcast every event); an older one is a new
   * object, the given one untouched. A version this code does not know is refused, never guessed.
   */
  upcast<E extends VersionedEvent>(event: E): E {
    const current = this.currentVersion(event.type);
    const stored = storedSchemaVersion(event);
    if (stored === current && 'schemaVersion' in event.metadata) return event;
    if (typeof stored !== 'number' || !Number.isInteger(stored) || stored < 1 || stored > current) {
      throw new UnknownSchemaVersionError(event.type, stored, current);
    }
    let data = event.data;
    for (const step of this.chains.get(event.type)?.slice(stored - 1) ?? []) data = step.upcast(data);
    return { ...event, data, metadata: { ...event.metadata, schemaVersion: current } };
  }

  /** A new event with its type's current version stamped in its metadata. */
  stamp<E extends VersionedEvent>(event: E): E {
    return { ...event, metadata: { ...event.metadata, schemaVersion: this.currentVersion(event.type) } };
  }
}
