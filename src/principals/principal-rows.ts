import type { Knex } from 'knex';
import type { PrincipalState } from '../domain/principals/principal.state.js';
import type { AuthChanges } from '../auth/auth-changes.js';
import type { EventStore } from '../eventstore/contract.js';

export interface LifecycleDeps {
  knex: Knex;
  eventStore: EventStore;
  /** This process's listener: a change is answered once its announcement has come back. */
  authChanges?: AuthChanges;
}

export type Existing = Exclude<PrincipalState, { status: 'none' }>;

/** The row of a principal as its stream has it, and its revoked keys marked; idempotent. */
export async function writePrincipal(trx: Knex.Transaction, state: Existing): Promise<void> {
  await trx.raw(
    `INSERT INTO principals (id, kind, name, roles, agent_id, issuer, subject, disabled_at, recorded)
     VALUES (:id, :kind, :name, :roles::text[], :agentId, :issuer, :subject, CASE WHEN :disabled THEN now() END, true)
     ON CONFLICT (id) DO UPDATE SET
       roles = excluded.roles,
       agent_id = excluded.agent_id,
       disabled_at = CASE WHEN :disabled THEN coalesce(principals.disabled_at, now()) END,
       recorded = true,
       updated_at = now()`,
    {
      id: state.principalId,
      kind: state.kind,
      name: state.name,
      roles: `{${state.roles.join(',')}}`, // a literal: knex would spread an array into a list
      agentId: state.agentId,
      issuer: state.issuer,
      subject: state.subject,
      disabled: state.status === 'disabled',
    },
  );
  const revoked = Object.entries(state.keys).filter(([, key]) => key.revoked).map(([keyId]) => keyId);
  if (revoked.length > 0) await trx('api_keys').whereIn('id', revoked).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
}
