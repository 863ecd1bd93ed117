import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Principal, PrincipalKind, Role } from '../auth/principal.js';

export interface ApiKeyInfo {
  keyId: string;
  name: string;
  role: Role;
  createdAt: Date;
  revokedAt: Date | null;
}

const PREFIX = 'ds_';

export class KeyNameTakenError extends Error {
  constructor(name: string, options?: ErrorOptions) {
    super(`an active key named "${name}" exists already`, options);
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Creates a key; the returned secret is shown once and stored only as its hash. */
export async function createApiKey(knex: Knex, name: string, role: Role): Promise<{ key: string; info: Principal }> {
  const key = PREFIX + randomBytes(32).toString('base64url');
  const keyId = randomUUID();
  const kind = kindOf(role);
  try {
    await knex.transaction(async (trx) => {
      await trx('principals').insert({ id: name, kind, name, roles: [role] }).onConflict('id').merge(['roles', 'kind']);
      await trx('api_keys').insert({ id: keyId, principal_id: name, name, role, key_hash: hashKey(key) });
    });
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw new KeyNameTakenError(name, { cause: error });
    throw error;
  }
  return { key, info: { id: name, kind, name, roles: [role], credential: { type: 'api-key', id: keyId } } };
}

export async function listApiKeys(knex: Knex): Promise<ApiKeyInfo[]> {
  const rows = await knex('api_keys').select('id', 'name', 'role', 'created_at', 'revoked_at').orderBy('created_at');
  return rows.map((row) => ({ keyId: row.id, name: row.name, role: row.role, createdAt: row.created_at, revokedAt: row.revoked_at }));
}

/** Revokes the active key with this id or name; returns whether one was. */
export async function revokeApiKey(knex: Knex, idOrName: string): Promise<boolean> {
  const byId = /^[0-9a-f-]{36}$/i.test(idOrName);
  const count = await knex('api_keys')
    .where(byId ? { id: idOrName } : { name: idOrName })
    .whereNull('revoked_at')
    .update({ revoked_at: knex.fn.now() });
  return count > 0;
}

/** The principal of an active, unexpired key of an enabled principal, or undefined. */
export async function authenticateKey(knex: Knex, key: string): Promise<Principal | undefined> {
  if (!key.startsWith(PREFIX)) return undefined;
  const row = await knex('api_keys as k')
    .join('principals as p', 'p.id', 'k.principal_id')
    .select('k.id as key_id', 'p.id', 'p.kind', 'p.name', 'p.roles', 'p.agent_id')
    .where('k.key_hash', hashKey(key))
    .whereNull('k.revoked_at')
    .whereNull('p.disabled_at')
    .where((q) => q.whereNull('k.expires_at').orWhere('k.expires_at', '>', knex.fn.now()))
    .first();
  if (!row) return undefined;
  return { id: row.id, kind: row.kind, name: row.name, roles: row.roles, ...(row.agent_id ? { agentId: row.agent_id } : {}), credential: { type: 'api-key', id: row.key_id } };
}

function kindOf(role: Role): PrincipalKind {
  return role === 'agent' || role === 'integration' ? role : 'user';
}
