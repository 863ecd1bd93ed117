import { z } from 'zod';
import type { DomainEvent } from '../shared/event.js';

export const ROLE_NAMES = ['admin', 'operator', 'approver', 'agent', 'auditor', 'integration'] as const;
export const PRINCIPAL_KIND_NAMES = ['user', 'agent', 'integration', 'system'] as const;

const Roles = z.array(z.enum(ROLE_NAMES));

/**
 * Events of a principal's stream (`principal-<id>`): who it is, what it may do, whether it may act
 * at all, and the credentials it holds. Secrets never appear here: a key is named by its id.
 */
export const PrincipalEventSchemas = {
  PrincipalCreated: z.object({
    principalId: z.string(),
    kind: z.enum(PRINCIPAL_KIND_NAMES),
    name: z.string(),
    roles: Roles,
    /** An agent principal acts for this agent only. */
    agentId: z.string().optional(),
    /** A person first seen through a token: who vouched for them, and as whom. */
    issuer: z.string().optional(),
    subject: z.string().optional(),
    /** Created from an API key of the time before principals. */
    migrated: z.boolean().optional(),
  }),
  PrincipalRolesChanged: z.object({ principalId: z.string(), roles: Roles, previous: Roles }),
  PrincipalDisabled: z.object({ principalId: z.string(), reason: z.string().optional() }),
  PrincipalEnabled: z.object({ principalId: z.string() }),
  ApiKeyIssued: z.object({ principalId: z.string(), keyId: z.string(), name: z.string(), expiresAt: z.string().nullable() }),
  ApiKeyRevoked: z.object({ principalId: z.string(), keyId: z.string(), name: z.string() }),
} as const;

type Events<Schemas extends Record<string, z.ZodType>> = {
  [Type in keyof Schemas & string]: DomainEvent<Type, z.infer<Schemas[Type]>>;
}[keyof Schemas & string];
export type PrincipalEvent = Events<typeof PrincipalEventSchemas>;

/** Ids are free of what a stream id may not hold, whatever the principal's id (legacy ids are key names). */
export const principalStreamId = (principalId: string) => `principal-${encodeURIComponent(principalId)}`;
