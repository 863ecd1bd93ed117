import { z } from 'zod';

/** Who did something: a person (user), an AI agent, an integration service, a worker process or the system itself. */
export const Actor = z.object({ kind: z.enum(['user', 'agent', 'integration', 'worker', 'system']), id: z.string() });
export type Actor = z.infer<typeof Actor>;

/**
 * The approved action a worker acted for, and who approved it (`approvedBy: 'policy'` when no person
 * had to): events a worker appends on an action's behalf name it beside the worker as their actor.
 */
export const OnBehalfOf = z.object({
  actionId: z.string(),
  approvedBy: z.enum(['policy', 'approvers']),
  /** The principal ids of the people who approved it; empty when the policy did. */
  approverIds: z.array(z.string()),
});
export type OnBehalfOf = z.infer<typeof OnBehalfOf>;

/** What every command brings besides its data: time and actor arrive here, never from `new Date()`. */
export interface CommandMetadata {
  actor: Actor;
  /** ISO 8601 instant at which the command was received. */
  now: string;
  correlationId: string;
  /** The request or event that caused this command. */
  causationId: string;
  /** A worker executing an approved action: the action and its approvers. */
  onBehalfOf?: OnBehalfOf;
}

/** Metadata of every event. The hash chain (prevHash, hash) is added when the event is appended. */
export interface EventMetadata {
  actor: Actor;
  correlationId: string;
  causationId: string;
  occurredAt: string;
  /** The version of the type's shape that `data` has; stored events without one are at version 1. */
  schemaVersion: number;
  /** Present only on events appended on behalf of an approved action. */
  onBehalfOf?: OnBehalfOf;
}

export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

/**
 * Event metadata for a command's outcome. The schema version is a type's, not a command's: every
 * decider is exported through `stampingVersions` (domain/upcasters.ts), which stamps each event
 * with its type's current version over the first one set here.
 */
export function eventMetadata(command: CommandMetadata): EventMetadata {
  return {
    actor: command.actor,
    correlationId: command.correlationId,
    causationId: command.causationId,
    occurredAt: command.now,
    schemaVersion: 1,
    // Absent rather than undefined: metadata is hashed as canonical JSON.
    ...(command.onBehalfOf ? { onBehalfOf: command.onBehalfOf } : {}),
  };
}

/**
 * Snapshots of a decider's state (see src/commands/snapshots.ts). The state must survive JSON as it
 * is; bump `version` whenever the state's shape or what `evolve` makes of events changes, so that
 * snapshots folded by older code are ignored.
 */
export interface SnapshotPolicy {
  name: string;
  version: number;
}

/** A pure decider: fold events into state, decide a command against it. */
export interface Decider<Command, Event, State> {
  initialState: State;
  /** Absent: the decider's streams are always folded from their first event. */
  snapshot?: SnapshotPolicy;
  evolve(state: State, event: Event): State;
  /** The events a command produces; throws a DomainError when a rule refuses it. */
  decide(command: Command, state: State): Event[];
}
