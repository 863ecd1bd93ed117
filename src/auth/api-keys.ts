import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Principal } from './principal.js';

/** Keys are `ds_` and 256 random bits: a fast hash is enough to store them, and to find one by it. */
const PREFIX = 'ds_';

export function generateApiKey(): { key: string; hash: string } {
  const key = PREFIX + randomBytes(32).toString('base64url');
  return { key, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(PREFIX);
}

export interface KeyPrincipal {
  principal: Principal;
  /** When the key stops working by itself; null: never. */
  expiresAt: Date | null;
}

/**
 * The principal behind an active, unexpired key of an enabled principal, or undefined. The same
 * statement notes when the key was last used (at most once a minute: a write per request would cost
 * more than the lookup it rides on).
 */
export async function principalForKey(knex: Knex, key: string): Promise<KeyPrincipal | undefined> {
  const { rows } = await knex.raw<{ rows: Record<string, unknown>[] }>(
    `WITH found AS (
       SELECT k.id AS key_id, k.expires_at, p.id, p.kind, p.name, p.roles, p.agent_id
         FROM api_keys k JOIN principals p ON p.id = k.principal_id
        WHERE k.key_hash = ? AND k.revoked_at IS NULL AND p.disabled_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
     ), touched AS (
       UPDATE api_keys SET last_used_at = now()
        WHERE id = (SELECT key_id FROM found) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
     )
     SELECT * FROM found`,
    [hashApiKey(key)],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    principal: { ...principalFromRow(row), credential: { type: 'api-key', id: row.key_id as string } },
    expiresAt: (row.expires_at as Date | null) ?? null,
  };
}

/** A principal row as the caller it stands for (without the credential, which the caller adds). */
export function principalFromRow(row: Record<string, unknown>): Omit<Principal, 'credential'> {
  return {
    id: row.id as string,
    kind: row.kind as Principal['kind'],
    name: row.name as string,
    roles: row.roles as Principal['roles'],
    ...(row.agent_id ? { agentId: row.agent_id as string } : {}),
  };
}
