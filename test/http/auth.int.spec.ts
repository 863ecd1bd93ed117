import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { AuthChanges } from '../../src/auth/auth-changes.js';
import { Authenticator } from '../../src/auth/authenticator.js';
import type { CommandMetadata } from '../../src/domain/shared/event.js';
import { authenticate, requireRole } from '../../src/http/auth.js';
import { silentLogger } from '../../src/platform/logger.js';
import { createPrincipal, disablePrincipal, issueApiKey, revokeApiKey, type LifecycleDeps } from '../../src/principals/principal-lifecycle.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually } from '../support/async.js';

const admin: CommandMetadata = { actor: { kind: 'user', id: 'root' }, now: new Date().toISOString(), correlationId: 'c', causationId: 'c' };

describe('authentication: API keys of principals', () => {
  let harness: TestApp;
  let deps: LifecycleDeps;
  const changes: AuthChanges[] = [];

  before(async () => {
    harness = await startTestApp();
    deps = { knex: harness.knex, eventStore: harness.store };
  });
  after(async () => {
    for (const listener of changes) await listener.close();
    await harness.close();
  });

  /** An app as one API process has it: its own authenticator, trusting checked keys for a minute while it hears changes. */
  async function apiProcess(cacheMs = 60_000) {
    const listener = new AuthChanges(harness.db.url, silentLogger());
    changes.push(listener);
    await listener.start();
    const authenticator = new Authenticator({ knex: harness.knex, changes: listener, cacheMs });
    return Object.assign(express(), { listener })
      .get('/api/who', authenticate(authenticator), (_req, res) => void res.json(res.locals.principal))
      .post('/api/approve', authenticate(authenticator), requireRole('approver', 'admin'), (_req, res) => void res.json({ ok: true }));
  }

  async function person(id: string, roles: ('approver' | 'operator' | 'agent' | 'admin')[] = ['approver']) {
    await createPrincipal(deps, { id, kind: 'user', name: id, roles }, admin);
    return (await issueApiKey(deps, id, { name: 'laptop', expiresAt: null }, admin)).key;
  }

  it('names the principal behind a key: its id, kind, roles and which key', async () => {
    const key = await person('ada');
    const app = await apiProcess();
    const res = await request(app).get('/api/who').set('authorization', `Bearer ${key}`).expect(200);
    expect(res.body).to.deep.include({ id: 'ada', kind: 'user', name: 'ada', roles: ['approver'] });
    expect(res.body.credential.type).to.equal('api-key');
  });

  it('lets a principal hold several keys at once: each speaks for the same principal', async () => {
    const first = await person('bea');
    const second = (await issueApiKey(deps, 'bea', { name: 'ci', expiresAt: null }, admin)).key;
    const app = await apiProcess();
    for (const key of [first, second]) {
      const res = await request(app).get('/api/who').set('authorization', `Bearer ${key}`).expect(200);
      expect(res.body.id).to.equal('bea');
    }
  });

  it('answers a missing, malformed, unknown, revoked or expired key, or a disabled principal, with 401 problem+json', async () => {
    const revoked = await person('cy');
    const { keyId } = (await harness.knex('api_keys').where({ principal_id: 'cy' }).first('id as keyId'))!;
    await revokeApiKey(deps, 'cy', keyId, admin);
    const disabled = await person('dee');
    await disablePrincipal(deps, 'dee', 'left', admin);
    await createPrincipal(deps, { id: 'eve', kind: 'user', name: 'eve', roles: ['operator'] }, admin);
    const expiring = (await issueApiKey(deps, 'eve', { name: 'short', expiresAt: new Date(Date.now() + 1500).toISOString() }, admin)).key;
    const app = await apiProcess();
    await request(app).get('/api/who').set('authorization', `Bearer ${expiring}`).expect(200);
    await eventually(async () => (await request(app).get('/api/who').set('authorization', `Bearer ${expiring}`)).status === 401, 20_000, 'the key to expire');
    for (const header of [undefined, 'Basic abc', 'Bearer ds_unknown', 'Bearer', `Bearer ${revoked}`, `Bearer ${disabled}`, `Bearer ${expiring}`]) {
      const req = request(app).get('/api/who');
      const res = await (header ? req.set('authorization', header) : req).expect(401);
      expect(res.type).to.equal('application/problem+json');
      expect(res.body.code).to.equal('AUTH.UNAUTHENTICATED');
      expect(res.headers['www-authenticate']).to.match(/^Bearer realm="dealstream"/);
    }
  });

  it('refuses a revoked key and a disabled principal on the very next request of another process that trusted them', async () => {
    const key = await person('fay');
    const spare = (await issueApiKey(deps, 'fay', { name: 'spare', expiresAt: null }, admin)).key;
    const other = await person('gus');
    const [a, b] = [await apiProcess(), await apiProcess()];
    for (const app of [a, b]) for (const k of [key, spare, other]) await request(app).get('/api/who').set('authorization', `Bearer ${k}`).expect(200);

    // The admin's change goes through process a, which answers once the change is announced back to it.
    const throughA = { ...deps, authChanges: a.listener };
    const { keyId } = (await harness.knex('api_keys').where({ principal_id: 'fay', name: 'laptop' }).first('id as keyId'))!;
    await revokeApiKey(throughA, 'fay', keyId, admin);
    await request(b).get('/api/who').set('authorization', `Bearer ${key}`).expect(401);
    await request(b).get('/api/who').set('authorization', `Bearer ${spare}`).expect(200); // rotation: the other key goes on

    await disablePrincipal(throughA, 'gus', undefined, admin);
    await request(b).get('/api/who').set('authorization', `Bearer ${other}`).expect(401);
    await request(a).get('/api/who').set('authorization', `Bearer ${other}`).expect(401);
  });

  it('checks every request afresh while it cannot hear changes', async () => {
    const key = await person('hal');
    const listener = new AuthChanges('postgres://postgres@127.0.0.1:1/none', silentLogger()); // never connects
    changes.push(listener);
    await listener.start();
    const app = express().get('/who', authenticate(new Authenticator({ knex: harness.knex, changes: listener, cacheMs: 60_000 })), (_req, res) => void res.json({}));
    await request(app).get('/who').set('authorization', `Bearer ${key}`).expect(200);
    await harness.knex('api_keys').where({ principal_id: 'hal' }).update({ revoked_at: harness.knex.fn.now() }); // unannounced
    await request(app).get('/who').set('authorization', `Bearer ${key}`).expect(401);
  });

  it('records when a key was last used', async () => {
    const key = await person('ivy');
    const app = await apiProcess();
    expect((await harness.knex('api_keys').where({ principal_id: 'ivy' }).first()).last_used_at).to.equal(null);
    await request(app).get('/api/who').set('authorization', `Bearer ${key}`).expect(200);
    expect((await harness.knex('api_keys').where({ principal_id: 'ivy' }).first()).last_used_at).to.be.instanceOf(Date);
  });

  it('lets only the named roles through, with 403 for the others', async () => {
    const operator = await person('jo', ['operator']);
    const approver = await person('kit', ['approver']);
    const app = await apiProcess();
    const res = await request(app).post('/api/approve').set('authorization', `Bearer ${operator}`).expect(403);
    expect(res.body).to.include({ status: 403, type: '/problems/forbidden', code: 'AUTH.FORBIDDEN' });
    await request(app).post('/api/approve').set('authorization', `Bearer ${approver}`).expect(200);
  });
});
