import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { generateApiKey } from '../auth/api-keys.js';
import { announceAuthChange } from '../auth/auth-changes.js';
import type { PrincipalKind, Role } from '../auth/principal.js';
import { derivedUuid } from '../commands/event-ids.js';
import { handleCommand, loadStream } from '../commands/handle-command.js';
import { principalDecider, type PrincipalCommand } from '../domain/principals/principal.decider.js';
import { principalStreamId } from '../domain/principals/principal.events.js';
import type { CommandMetadata } from '../domain/shared/event.js';
import { writePrincipal, type Existing, type LifecycleDeps } from './principal-rows.js';

export type { LifecycleDeps };
import { recordIfMigrated } from './record-migrated.js';

/**
 * What principals are and hold, as commands on their streams (`principal-<id>`): the log says who
 * could do what, when. Authentication reads the `principals` and `api_keys` tables, which each
 * command brings in line with the stream right after its append and announces to every API process
 * (so a revocation holds on the next request anywhere). A command that failed between the two is
 * healed by repeating it: a repeat appends nothing and still brings the tables in line.
 */


export interface NewPrincipal {
  /** Chosen by an admin (letters, digits, `.`, `_`, `-`, `@`), or a new UUID. */
  id?: string;
  kind: PrincipalKind;
  name: string;
  roles: Role[];
  agentId?: string;
}

export async function createPrincipal(deps: LifecycleDeps, principal: NewPrincipal, metadata: CommandMetadata): Promise<Existing> {
  const { id = randomUUID(), kind, name, roles, agentId } = principal;
  return run(deps, id, { type: 'CreatePrincipal', data: { principalId: id, kind, name, roles, ...(agentId ? { agentId } : {}) }, metadata });
}

export interface IssuedKey {
  keyId: string;
  name: string;
  /** The secret, shown once: only its hash is stored. */
  key: string;
  expiresAt: string | null;
}

/**
 * A new key for the principal. The log records that it was issued (never the secret); the hash is
 * stored after that, so a key the log does not know never works.
 */
export async function issueApiKey(deps: LifecycleDeps, principalId: string, key: { name: string; expiresAt: string | null }, metadata: CommandMetadata): Promise<IssuedKey> {
  const keyId = randomUUID();
  const { key: secret, hash } = generateApiKey();
  await run(deps, principalId, { type: 'IssueApiKey', data: { keyId, ...key }, metadata }, (trx) =>
    trx('api_keys').insert({ id: keyId, principal_id: principalId, name: key.name, key_hash: hash, expires_at: key.expiresAt }),
  );
  return { keyId, name: key.name, key: secret, expiresAt: key.expiresAt };
}

export function revokeApiKey(deps: LifecycleDeps, principalId: string, keyId: string, metadata: CommandMetadata): Promise<Existing> {
  return run(deps, principalId, { type: 'RevokeApiKey', data: { keyId }, metadata });
}

export function changeRoles(deps: LifecycleDeps, principalId: string, roles: Role[], metadata: CommandMetadata): Promise<Existing> {
  return run(deps, principalId, { type: 'ChangePrincipalRoles', data: { roles }, metadata });
}

export function disablePrincipal(deps: LifecycleDeps, principalId: string, reason: string | undefined, metadata: CommandMetadata): Promise<Existing> {
  return run(deps, principalId, { type: 'DisablePrincipal', data: reason ? { reason } : {}, metadata });
}

export function enablePrincipal(deps: LifecycleDeps, principalId: string, metadata: CommandMetadata): Promise<Existing> {
  return run(deps, principalId, { type: 'EnablePrincipal', data: {}, metadata });
}

/** A person seen through a token: found, or created on first sight under an id derived from who vouched for them. */
export async function personFor(deps: LifecycleDeps, identity: { principalId: string; issuer: string; subject: string; name: string; roles: Role[] }, metadata: CommandMetadata): Promise<Existing> {
  const { principalId, ...person } = identity;
  const command: PrincipalCommand = { type: 'CreatePrincipal', data: { principalId, kind: 'user', ...person }, metadata };
  // Derived event ids: concurrent first requests of one person append the same creation once.
  return run(deps, principalId, command, undefined, (index) => derivedUuid(principalId, 'first-sight', String(index)));
}

/**
 * Decides and appends the command, then writes the stream's state to the tables (with `extra`, in
 * the same transaction) and announces the change.
 */
async function run(
  deps: LifecycleDeps,
  principalId: string,
  command: PrincipalCommand,
  extra?: (trx: Knex.Transaction) => Promise<unknown>,
  eventIdFor?: (index: number) => string,
): Promise<Existing> {
  const streamId = principalStreamId(principalId);
  await recordIfMigrated(deps, principalId);
  await handleCommand(deps.eventStore, streamId, principalDecider, command, eventIdFor ? { eventIdFor } : {});
  const { state } = await loadStream(deps.eventStore, streamId, principalDecider);
  if (state.status === 'none') throw new Error(`principal ${principalId} has no stream after a command on it`);
  const announced = deps.authChanges?.announced(principalId, 2000);
  await deps.knex.transaction(async (trx) => {
    await writePrincipal(trx, state);
    await extra?.(trx);
    await announceAuthChange(trx, principalId);
  });
  // Answered once the other API processes have heard it too: their next request refuses what was revoked.
  await announced;
  return state;
}
