import { PRINCIPAL_KIND_NAMES, ROLE_NAMES } from '../domain/principals/principal.events.js';
import type { Actor } from '../domain/shared/event.js';

export const ROLES = ROLE_NAMES;
export type Role = (typeof ROLES)[number];

/** What a principal is: a person (`user`), an AI agent, an integration service, or dealstream itself. */
export const PRINCIPAL_KINDS = PRINCIPAL_KIND_NAMES;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

/** How the caller proved who they are on this request. */
export type Credential = { type: 'api-key'; id: string } | { type: 'token'; issuer: string };

/**
 * Who is calling. Its id is stable across credentials (keys rotate, tokens expire): events record
 * it as the actor, and ownership and four-eyes rules compare it. Never taken from what a client sends.
 */
export interface Principal {
  id: string;
  kind: PrincipalKind;
  name: string;
  roles: readonly Role[];
  /** An agent principal acts for this agent only (its runs); none: it runs no agent. */
  agentId?: string;
  credential: Credential;
}

export function hasRole(principal: Principal, roles: readonly Role[]): boolean {
  return principal.roles.some((role) => roles.includes(role));
}

export function isAdmin(principal: Principal): boolean {
  return principal.roles.includes('admin');
}

/** The actor events record for what this principal does. */
export function actorOf(principal: Principal): Actor {
  return { kind: principal.kind, id: principal.id };
}
