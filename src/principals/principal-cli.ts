import { userInfo } from 'node:os';
import type { Knex } from 'knex';
import type { PrincipalKind, Role } from '../auth/principal.js';
import type { CommandMetadata } from '../domain/shared/event.js';
import { createPrincipal, issueApiKey, revokeApiKey, type LifecycleDeps } from './principal-lifecycle.js';

/** What the CLI records as the actor: whoever runs it on this machine (they hold the database's keys). */
export function cliMetadata(): CommandMetadata {
  const id = `cli:${safeUser()}`;
  return { actor: { kind: 'system', id }, now: new Date().toISOString(), correlationId: id, causationId: id };
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** The kind of principal a key of this role was made for, before principals existed. */
export function kindForRole(role: Role): PrincipalKind {
  return role === 'agent' || role === 'integration' ? role : 'user';
}

/** `keys create --name --role` as it was: a principal of that name and role, holding one key of that name. */
export async function createPrincipalWithKey(deps: LifecycleDeps, name: string, role: Role, metadata = cliMetadata()): Promise<{ principalId: string; key: string }> {
  const principal = await createPrincipal(deps, { kind: kindForRole(role), name, roles: [role] }, metadata);
  const issued = await issueApiKey(deps, principal.principalId, { name, expiresAt: null }, metadata);
  return { principalId: principal.principalId, key: issued.key };
}

export class KeyNotFoundError extends Error {}

/** Revokes a key named by its id, or by its name when one active key has it (of `principalId`, if given). */
export async function revokeKeyByIdOrName(deps: LifecycleDeps, idOrName: string, principalId?: string): Promise<{ keyId: string; principalId: string }> {
  const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrName);
  const query = deps.knex('api_keys').select('id', 'principal_id').whereNull('revoked_at');
  if (byId) query.where({ id: idOrName });
  else query.where({ name: idOrName });
  if (principalId) query.where({ principal_id: principalId });
  const found = await query;
  if (found.length === 0) throw new KeyNotFoundError(`no active key "${idOrName}"`);
  if (found.length > 1) throw new KeyNotFoundError(`${found.length} active keys are named "${idOrName}": name one by its id (keys list)`);
  await revokeApiKey(deps, found[0].principal_id, found[0].id, cliMetadata());
  return { keyId: found[0].id, principalId: found[0].principal_id };
}

/** Every key with its principal, for `keys list`. */
export function listKeys(knex: Knex, principalId?: string) {
  const query = knex('api_keys as k')
    .join('principals as p', 'p.id', 'k.principal_id')
    .select('k.id', 'k.name', 'k.principal_id', 'p.roles', 'k.created_at', 'k.expires_at', 'k.last_used_at', 'k.revoked_at')
    .orderBy('k.created_at');
  if (principalId) query.where('k.principal_id', principalId);
  return query;
}
