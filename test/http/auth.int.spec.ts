import { expect } from 'chai';
import express from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import { KeyNameTakenError, createApiKey, revokeApiKey } from '../../src/http/api-keys.js';
import { authenticate, requireRole } from '../../src/http/auth.js';
import { createKnex } from '../../src/platform/database.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('API key authentication', () => {
  let db: TestDatabase;
  let knex: Knex;
  let app: express.Express;

  before(async () => {
    db = await createTestDatabase();
    knex = createKnex(db.url, 2);
    app = express();
    app.get('/api/who', authenticate(knex), (_req, res) => {
      res.json(res.locals.principal);
    });
    app.post('/api/approve', authenticate(knex), requireRole('approver', 'admin'), (_req, res) => {
      res.json({ ok: true });
    });
  });
  after(async () => {
    await knex.destroy();
    await db.drop();
  });

  it('names the caller from a valid key', async () => {
    const { key, info } = await createApiKey(knex, 'scout', 'agent');
    const res = await request(app).get('/api/who').set('authorization', `Bearer ${key}`).expect(200);
    expect(res.body).to.deep.equal(info);
  });

  it('answers a missing, malformed, unknown or revoked key with 401 problem+json', async () => {
    const { key } = await createApiKey(knex, 'temp', 'operator');
    await revokeApiKey(knex, 'temp');
    for (const header of [undefined, 'Basic abc', 'Bearer ds_unknown', `Bearer ${key}`]) {
      const req = request(app).get('/api/who');
      const res = await (header ? req.set('authorization', header) : req).expect(401);
      expect(res.type).to.equal('application/problem+json');
      expect(res.headers['www-authenticate']).to.match(/^Bearer/);
    }
  });

  it('trusts a checked key for the cache time only; without a cache a revocation counts at once', async () => {
    const { key } = await createApiKey(knex, 'cached', 'operator');
    const cached = express().get('/who', authenticate(knex, 300), (_req, res) => void res.json(res.locals.principal));
    const uncached = express().get('/who', authenticate(knex, 0), (_req, res) => void res.json(res.locals.principal));
    const as = { authorization: `Bearer ${key}` };
    await request(cached).get('/who').set(as).expect(200);
    await revokeApiKey(knex, 'cached');
    await request(cached).get('/who').set(as).expect(200);
    await request(uncached).get('/who').set(as).expect(401);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await request(cached).get('/who').set(as).expect(401);
  });

  it('lets only the named roles through, with 403 for the others', async () => {
    const agent = await createApiKey(knex, 'agent-1', 'agent');
    const approver = await createApiKey(knex, 'approver-1', 'approver');
    const res = await request(app).post('/api/approve').set('authorization', `Bearer ${agent.key}`).expect(403);
    expect(res.body).to.include({ status: 403, type: '/problems/forbidden' });
    await request(app).post('/api/approve').set('authorization', `Bearer ${approver.key}`).expect(200);
  });

  it('refuses a second active key with the same name', async () => {
    await createApiKey(knex, 'dup', 'auditor');
    let error: unknown;
    try {
      await createApiKey(knex, 'dup', 'auditor');
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(KeyNameTakenError);
  });
});
