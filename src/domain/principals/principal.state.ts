import type { PrincipalEvent, ROLE_NAMES, PRINCIPAL_KIND_NAMES } from './principal.events.js';

type RoleName = (typeof ROLE_NAMES)[number];

export interface KeyState {
  name: string;
  expiresAt: string | null;
  revoked: boolean;
}

export type PrincipalState =
  | { status: 'none' }
  | {
      status: 'active' | 'disabled';
      principalId: string;
      kind: (typeof PRINCIPAL_KIND_NAMES)[number];
      name: string;
      roles: RoleName[];
      agentId: string | null;
      issuer: string | null;
      subject: string | null;
      keys: Record<string, KeyState>;
    };

export const initialPrincipalState: PrincipalState = { status: 'none' };

export function evolvePrincipal(state: PrincipalState, event: PrincipalEvent): PrincipalState {
  if (event.type === 'PrincipalCreated') {
    const { principalId, kind, name, roles, agentId, issuer, subject } = event.data;
    return { status: 'active', principalId, kind, name, roles, agentId: agentId ?? null, issuer: issuer ?? null, subject: subject ?? null, keys: {} };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'PrincipalRolesChanged':
      return { ...state, roles: event.data.roles };
    case 'PrincipalDisabled':
      return { ...state, status: 'disabled' };
    case 'PrincipalEnabled':
      return { ...state, status: 'active' };
    case 'ApiKeyIssued': {
      const { keyId, name, expiresAt } = event.data;
      return { ...state, keys: { ...state.keys, [keyId]: { name, expiresAt, revoked: false } } };
    }
    case 'ApiKeyRevoked': {
      const key = state.keys[event.data.keyId];
      return key ? { ...state, keys: { ...state.keys, [event.data.keyId]: { ...key, revoked: true } } } : state;
    }
    default: {
      const _exhaustive: never = event;
      return state;
    }
  }
}
