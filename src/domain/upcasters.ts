import { dealUpcasters } from './deals/deal.upcasters.js';
import type { Decider, DomainEvent } from './shared/event.js';
import { UpcasterRegistry, type VersionedEvent } from './shared/upcasting.js';

/**
 * Every event type's schema versions: the upcasters of each capability, in one registry. A new
 * capability's list (`<cap>.upcasters.ts`) joins here.
 */
export const eventVersions = new UpcasterRegistry([...dealUpcasters]);

/** The event in its type's current shape (see UpcasterRegistry.upcast): what every reader of meaning sees. */
export const upcast = <E extends VersionedEvent>(event: E): E => eventVersions.upcast(event);

/**
 * The decider, its events stamped with their type's current schema version. Every decider is
 * exported through this, so a type's version is known in one place (its upcasters) and no event
 * is written in a new shape under an old version.
 */
export function stampingVersions<C, E extends DomainEvent, S>(decider: Decider<C, E, S>): Decider<C, E, S> {
  return { ...decider, decide: (command, state) => decider.decide(command, state).map((event) => eventVersions.stamp(event)) };
}
