import { derivedUuid } from '../commands/event-ids.js';
import { handleCommand, loadStream } from '../commands/handle-command.js';
import { principalDecider, type PrincipalCommand } from '../domain/principals/principal.decider.js';
import { principalStreamId } from '../domain/principals/principal.events.js';
import type { CommandMetadata } from '../domain/shared/event.js';
import type { Logger } from '../platform/logger.js';
import { writePrincipal, type LifecycleDeps } from './principal-rows.js';

/**
 * Principals made from the API keys of the time before principals (see the migration) get their
 * history in the log: created, each key issued and, where it was, revoked, in the order the keys
 * were made. Every process does this when it starts; every event id is derived from the principal
 * and the step, so processes that start together record each principal once.
 */
export async function recordMigratedPrincipals(deps: LifecycleDeps, logger: Logger): Promise<void> {
  const ids = await deps.knex('principals').where({ recorded: false }).pluck('id');
  for (const id of ids) await recordIfMigrated(deps, id);
  if (ids.length > 0) logger.info('recorded principals migrated from API keys in the log', { principals: ids.length });
}

/** Records the principal's history if its row is not in the log yet; a change to it comes after. */
export async function recordIfMigrated(deps: LifecycleDeps, principalId: string): Promise<void> {
  const principal = await deps.knex('principals').where({ id: principalId, recorded: false }).first('id', 'kind', 'name', 'roles', 'agent_id');
  if (!principal) return;
  const keys = await deps.knex('api_keys').where({ principal_id: principalId }).orderBy('created_at').select('id', 'name', 'revoked_at');
  const metadata: CommandMetadata = { actor: { kind: 'system', id: 'migration' }, now: new Date().toISOString(), correlationId: `migrated-${principalId}`, causationId: `migrated-${principalId}` };
  const created = { principalId, kind: principal.kind, name: principal.name, roles: principal.roles, ...(principal.agent_id ? { agentId: principal.agent_id } : {}), migrated: true };
  const commands: PrincipalCommand[] = [
    { type: 'CreatePrincipal', data: created, metadata },
    ...keys.flatMap((key): PrincipalCommand[] => [
      { type: 'IssueApiKey', data: { keyId: key.id, name: key.name, expiresAt: null }, metadata },
      ...(key.revoked_at ? [{ type: 'RevokeApiKey' as const, data: { keyId: key.id }, metadata }] : []),
    ]),
  ];
  const streamId = principalStreamId(principalId);
  for (const [step, command] of commands.entries()) {
    await handleCommand(deps.eventStore, streamId, principalDecider, command, {
      eventIdFor: (index) => derivedUuid('migrated-principal', principalId, String(step), String(index)),
    });
  }
  const { state } = await loadStream(deps.eventStore, streamId, principalDecider);
  if (state.status !== 'none') await deps.knex.transaction((trx) => writePrincipal(trx, state));
}
