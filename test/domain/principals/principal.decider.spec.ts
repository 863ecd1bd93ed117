import { principalDecider, type PrincipalCommand } from '../../../src/domain/principals/principal.decider.js';
import type { PrincipalEvent } from '../../../src/domain/principals/principal.events.js';
import type { Actor, CommandMetadata } from '../../../src/domain/shared/event.js';
import { deciderSpec } from '../../support/decider-spec.js';

const given = deciderSpec(principalDecider);
const at = '2026-12-03T10:00:00.000Z';
const root: Actor = { kind: 'user', id: 'root' };
const by = (actor: Actor): CommandMetadata => ({ actor, now: at, correlationId: 'c', causationId: 'r' });
const meta = { actor: root, correlationId: 'c', causationId: 'r', occurredAt: at, schemaVersion: 1 };
const cmd = (type: PrincipalCommand['type'], data: object, actor = root) => ({ type, data, metadata: by(actor) }) as PrincipalCommand;
const principalId = 'alice';

const created: PrincipalEvent = { type: 'PrincipalCreated', data: { principalId, kind: 'user', name: 'Alice', roles: ['approver'] }, metadata: meta };
const issued = (keyId: string, name = 'laptop', expiresAt: string | null = null): PrincipalEvent => ({ type: 'ApiKeyIssued', data: { principalId, keyId, name, expiresAt }, metadata: meta });
const revoked = (keyId: string, name = 'laptop'): PrincipalEvent => ({ type: 'ApiKeyRevoked', data: { principalId, keyId, name }, metadata: meta });
const disabled: PrincipalEvent = { type: 'PrincipalDisabled', data: { principalId }, metadata: meta };

describe('Principal decider', () => {
  describe('CreatePrincipal', () => {
    it('creates a principal with its kind, name and roles (each role once)', () =>
      given([]).when(cmd('CreatePrincipal', { principalId, kind: 'user', name: 'Alice', roles: ['approver', 'approver'] })).then([created]));
    it('refuses a second principal with the same id', () =>
      given([created]).when(cmd('CreatePrincipal', { principalId, kind: 'user', name: 'Other', roles: ['admin'] })).thenThrows('PRINCIPAL.ALREADY_EXISTS', 409));
    it('does nothing when the same person is seen first by two requests at once', () => {
      const person: PrincipalEvent = { type: 'PrincipalCreated', data: { principalId, kind: 'user', name: 'Alice', roles: [], issuer: 'https://idp', subject: 's1' }, metadata: meta };
      given([person]).when(cmd('CreatePrincipal', { principalId, kind: 'user', name: 'Alice', roles: ['approver'], issuer: 'https://idp', subject: 's1' })).then([]);
    });
    it('binds only agent principals to an agent', () =>
      given([]).when(cmd('CreatePrincipal', { principalId, kind: 'user', name: 'Alice', roles: ['agent'], agentId: 'a1' })).thenThrows('PRINCIPAL.AGENT_FOR_NON_AGENT', 400));
  });

  describe('keys', () => {
    it('issues keys: several at once, each with its own name', () =>
      given([created, issued('k1')]).when(cmd('IssueApiKey', { keyId: 'k2', name: 'ci', expiresAt: null })).then([issued('k2', 'ci')]));
    it('refuses a second live key of the same name, but not after the first was revoked', () => {
      given([created, issued('k1')]).when(cmd('IssueApiKey', { keyId: 'k2', name: 'laptop', expiresAt: null })).thenThrows('PRINCIPAL.KEY_NAME_TAKEN', 409);
      given([created, issued('k1'), revoked('k1')]).when(cmd('IssueApiKey', { keyId: 'k2', name: 'laptop', expiresAt: null })).then([issued('k2')]);
    });
    it('refuses an expiry in the past, and keys for a disabled principal', () => {
      given([created]).when(cmd('IssueApiKey', { keyId: 'k1', name: 'x', expiresAt: '2026-01-01T00:00:00.000Z' })).thenThrows('PRINCIPAL.KEY_EXPIRY_PAST', 400);
      given([created, disabled]).when(cmd('IssueApiKey', { keyId: 'k1', name: 'x', expiresAt: null })).thenThrows('PRINCIPAL.DISABLED', 409);
    });
    it('revokes a key once; another principal\'s key is not found', () => {
      given([created, issued('k1')]).when(cmd('RevokeApiKey', { keyId: 'k1' })).then([revoked('k1')]);
      given([created, issued('k1'), revoked('k1')]).when(cmd('RevokeApiKey', { keyId: 'k1' })).then([]);
      given([created]).when(cmd('RevokeApiKey', { keyId: 'elsewhere' })).thenThrows('PRINCIPAL.KEY_NOT_FOUND', 404);
    });
  });

  describe('roles and status', () => {
    it('changes roles, recording the previous ones; the same set is no change', () => {
      given([created]).when(cmd('ChangePrincipalRoles', { roles: ['approver', 'operator'] }))
        .then([{ type: 'PrincipalRolesChanged', data: { principalId, roles: ['approver', 'operator'], previous: ['approver'] }, metadata: meta }]);
      given([created]).when(cmd('ChangePrincipalRoles', { roles: ['approver'] })).then([]);
    });
    it('keeps an admin from taking their own admin role away, or disabling themselves', () => {
      const admin: PrincipalEvent = { ...created, data: { ...created.data, roles: ['admin'] } } as PrincipalEvent;
      const self: Actor = { kind: 'user', id: principalId };
      given([admin]).when(cmd('ChangePrincipalRoles', { roles: ['approver'] }, self)).thenThrows('PRINCIPAL.SELF_DEMOTION', 409);
      given([admin]).when(cmd('DisablePrincipal', {}, self)).thenThrows('PRINCIPAL.SELF_DISABLE', 409);
    });
    it('disables and enables, each once', () => {
      given([created]).when(cmd('DisablePrincipal', { reason: ' left ' })).then([{ type: 'PrincipalDisabled', data: { principalId, reason: 'left' }, metadata: meta }]);
      given([created, disabled]).when(cmd('DisablePrincipal', {})).then([]);
      given([created, disabled]).when(cmd('EnablePrincipal', {})).then([{ type: 'PrincipalEnabled', data: { principalId }, metadata: meta }]);
      given([created]).when(cmd('EnablePrincipal', {})).then([]);
    });
    it('refuses commands on a principal that does not exist', () => given([]).when(cmd('DisablePrincipal', {})).thenThrows('PRINCIPAL.NOT_FOUND', 404));
  });
});
