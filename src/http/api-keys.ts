import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';

export const ROLES = ['admin', 'operator', 'approver', 'agent', 'auditor', 'integration'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: the owner of an API key. Event metadata names this actor, never a field the client sends. */
export interface Principal {
  keyId: string;
  name: string;
  role: Role;
}

export interface ApiKeyInfo extends Principal {
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
  try {
    await knex('api_keys').insert({ id: keyId, name, role, key_hash: hashKey(key) });
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw new KeyNameTakenError(name, { cause: error });
    throw error;
  }
  return { key, info: { keyId, name, role } };
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

/** The principal of an active key, or undefined. */
export async function authenticateKey(knex: Knex, key: string): Promise<Principal | undefined> {
  if (!key.startsWith(PREFIX)) return undefined;
  const row = await knex('api_keys').select('id', 'name', 'role').where({ key_hash: hashKey(key) }).whereNull('revoked_at').first();
  return row ? { keyId: row.id, name: row.name, role: row.role } : undefined;
}
