import { principalFromRow } from '../auth/api-keys.js';
import type { Authenticated, TokenCheck } from '../auth/authenticator.js';
import type { VerifiedIdentity } from '../auth/tokens/token-verifier.js';
import { derivedUuid } from '../commands/event-ids.js';
import type { Logger } from '../platform/logger.js';
import { personFor, type LifecycleDeps } from './principal-lifecycle.js';

/** What sign-in needs of a verifier (src/auth/tokens/token-verifier.ts is the one). */
export interface TokenVerifier {
  verify(token: string): Promise<VerifiedIdentity>;
}

/**
 * People sign in with tokens: a verified token names its bearer by issuer and subject, and carries
 * their roles (the identity provider decides those). The person's principal is found, or created on
 * first sight: for dealstream's own tokens the subject is the principal id; for another issuer the id
 * is derived from issuer and subject, so two issuers' "alice" are two people. A disabled principal's
 * tokens are refused like its keys.
 */
export function peopleSignIn(deps: LifecycleDeps, verifier: TokenVerifier, ownIssuer: string, logger: Logger): TokenCheck {
  return async (token): Promise<Authenticated | undefined> => {
    let identity: VerifiedIdentity;
    try {
      identity = await verifier.verify(token);
    } catch (error) {
      logger.debug('token refused', { reason: (error as Error).message });
      return undefined;
    }
    const { issuer, subject } = identity;
    const principalId = issuer === ownIssuer ? subject : derivedUuid('person', issuer, subject);
    const known = await deps.knex('principals').where({ id: principalId }).first();
    if (known?.disabled_at) return undefined;
    const person = known
      ? principalFromRow(known)
      : await personFor(
          deps,
          { principalId, issuer, subject, name: identity.name ?? subject, roles: identity.roles },
          { actor: { kind: 'system', id: 'sign-in' }, now: new Date().toISOString(), correlationId: principalId, causationId: principalId },
        ).then((state) => (state.status === 'active' ? { id: principalId, kind: state.kind, name: state.name, ...(state.agentId ? { agentId: state.agentId } : {}) } : undefined));
    if (!person) return undefined;
    return { principal: { ...person, roles: identity.roles, credential: { type: 'token', issuer } }, expiresAt: identity.expiresAt ?? null };
  };
}
