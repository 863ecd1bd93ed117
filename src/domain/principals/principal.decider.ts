import { eventMetadata, type CommandMetadata, type Decider } from '../shared/event.js';
import { IllegalStateError, NotFoundError, ValidationError } from '../shared/errors.js';
import { stampingVersions } from '../upcasters.js';
import type { PRINCIPAL_KIND_NAMES, PrincipalEvent, ROLE_NAMES } from './principal.events.js';
import { evolvePrincipal, initialPrincipalState, type PrincipalState } from './principal.state.js';

type RoleName = (typeof ROLE_NAMES)[number];

export type PrincipalCommand =
  | {
      type: 'CreatePrincipal';
      data: {
        principalId: string;
        kind: (typeof PRINCIPAL_KIND_NAMES)[number];
        name: string;
        roles: RoleName[];
        agentId?: string;
        issuer?: string;
        subject?: string;
        migrated?: boolean;
      };
      metadata: CommandMetadata;
    }
  | { type: 'ChangePrincipalRoles'; data: { roles: RoleName[] }; metadata: CommandMetadata }
  | { type: 'DisablePrincipal'; data: { reason?: string }; metadata: CommandMetadata }
  | { type: 'EnablePrincipal'; data: Record<string, never>; metadata: CommandMetadata }
  | { type: 'IssueApiKey'; data: { keyId: string; name: string; expiresAt: string | null }; metadata: CommandMetadata }
  | { type: 'RevokeApiKey'; data: { keyId: string }; metadata: CommandMetadata };

export function decidePrincipal(command: PrincipalCommand, state: PrincipalState): PrincipalEvent[] {
  const metadata = eventMetadata(command.metadata);
  if (command.type === 'CreatePrincipal') {
    const { data } = command;
    if (state.status !== 'none') {
      // A person seen through a token is created on first sight by whichever request comes first.
      if (data.subject && state.subject === data.subject && state.issuer === (data.issuer ?? null)) return [];
      throw new IllegalStateError('PRINCIPAL.ALREADY_EXISTS', `A principal ${data.principalId} exists already`);
    }
    if (data.agentId && data.kind !== 'agent') throw new ValidationError('PRINCIPAL.AGENT_FOR_NON_AGENT', 'Only an agent principal acts for an agent', 'agentId');
    return [{ type: 'PrincipalCreated', data: { ...data, roles: unique(data.roles) }, metadata }];
  }
  if (state.status === 'none') throw new NotFoundError('PRINCIPAL.NOT_FOUND', 'No such principal');
  const principalId = state.principalId;
  const self = command.metadata.actor.id === principalId;

  switch (command.type) {
    case 'ChangePrincipalRoles': {
      const roles = unique(command.data.roles);
      if (sameSet(roles, state.roles)) return [];
      // An admin who takes their own admin role away may leave nobody to give it back.
      if (self && state.roles.includes('admin') && !roles.includes('admin')) {
        throw new IllegalStateError('PRINCIPAL.SELF_DEMOTION', 'Admins do not take their own admin role away; ask another admin');
      }
      return [{ type: 'PrincipalRolesChanged', data: { principalId, roles, previous: state.roles }, metadata }];
    }
    case 'DisablePrincipal': {
      if (state.status === 'disabled') return [];
      if (self) throw new IllegalStateError('PRINCIPAL.SELF_DISABLE', 'Nobody disables themselves; ask another admin');
      const reason = command.data.reason?.trim();
      return [{ type: 'PrincipalDisabled', data: { principalId, ...(reason ? { reason } : {}) }, metadata }];
    }
    case 'EnablePrincipal':
      return state.status === 'active' ? [] : [{ type: 'PrincipalEnabled', data: { principalId }, metadata }];
    case 'IssueApiKey': {
      const { keyId, name, expiresAt } = command.data;
      if (state.keys[keyId]) return []; // issued already: a repeated command
      if (state.status === 'disabled') throw new IllegalStateError('PRINCIPAL.DISABLED', 'A disabled principal gets no new keys');
      if (expiresAt !== null && expiresAt <= command.metadata.now) throw new ValidationError('PRINCIPAL.KEY_EXPIRY_PAST', "A key's expiry must lie in the future", 'expiresAt');
      const live = Object.values(state.keys).some((key) => key.name === name && !key.revoked && !expired(key.expiresAt, command.metadata.now));
      if (live) throw new IllegalStateError('PRINCIPAL.KEY_NAME_TAKEN', `An active key named "${name}" exists already`);
      return [{ type: 'ApiKeyIssued', data: { principalId, keyId, name, expiresAt }, metadata }];
    }
    case 'RevokeApiKey': {
      const key = state.keys[command.data.keyId];
      if (!key) throw new NotFoundError('PRINCIPAL.KEY_NOT_FOUND', 'No such key');
      return key.revoked ? [] : [{ type: 'ApiKeyRevoked', data: { principalId, keyId: command.data.keyId, name: key.name }, metadata }];
    }
    default: {
      const _exhaustive: never = command;
      throw new Error(`unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

export const principalDecider: Decider<PrincipalCommand, PrincipalEvent, PrincipalState> = stampingVersions({
  snapshot: { name: 'principal', version: 1 },
  initialState: initialPrincipalState,
  evolve: evolvePrincipal,
  decide: decidePrincipal,
});

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

function sameSet<T>(a: T[], b: T[]): boolean {
  return a.length === b.length && a.every((value) => b.includes(value));
}

function expired(expiresAt: string | null, now: string): boolean {
  return expiresAt !== null && expiresAt <= now;
}
