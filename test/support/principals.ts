import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { generateApiKey } from '../../src/auth/api-keys.js';
import type { Principal, Role } from '../../src/auth/principal.js';
import { kindForRole } from '../../src/principals/principal-cli.js';

/**
 * A principal whose id is `name`, holding one key of that name: the shape keys of the time before
 * principals were migrated to. Written to the tables directly (a fixture for tests that only need a
 * caller), so it is marked unrecorded, as migrated ones are; the lifecycle's own tests go through
 * the log (test/principals).
 */
export async function createApiKey(knex: Knex, name: string, role: Role, options: { agentId?: string } = {}): Promise<{ key: string; info: Principal }> {
  const { key, hash } = generateApiKey();
  const keyId = randomUUID();
  const kind = kindForRole(role);
  await knex('principals').insert({ id: name, kind, name, roles: [role], agent_id: options.agentId ?? null, recorded: false });
  await knex('api_keys').insert({ id: keyId, principal_id: name, name, key_hash: hash });
  return { key, info: { id: name, kind, name, roles: [role], ...(options.agentId ? { agentId: options.agentId } : {}), credential: { type: 'api-key', id: keyId } } };
}

/** Makes the agent principal act for this agent from now on (tests that run several agents with one key). */
export async function bindAgent(knex: Knex, principalId: string, agentId: string): Promise<void> {
  await knex('principals').where({ id: principalId }).update({ agent_id: agentId });
}
