import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Knex } from 'knex';
import request from 'supertest';
import { ensureSigningKey, publicJwks, rotateSigningKey } from '../../src/auth/tokens/signing-keys.js';
import { createKnex } from '../../src/platform/database.js';
import { SecretBox, SecretBoxError } from '../../src/platform/secret-box.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { patient } from '../support/async.js';

describe("dealstream's signing keys", function () {
  this.timeout(patient(30_000));
  let harness: TestApp;
  let knex: Knex;
  const box = new SecretBox([{ id: 'test', key: randomBytes(32) }]);

  before(async () => {
    harness = await startTestApp();
    knex = harness.knex;
  });
  after(() => harness.close());
  beforeEach(() => knex('signing_keys').del());

  it('makes one active key when several processes start at once', async () => {
    // Each "process" on a connection of its own, so that their inserts really race.
    const processes = Array.from({ length: 5 }, () => createKnex(harness.db.url, 1));
    try {
      const kids = await Promise.all(processes.map((own) => ensureSigningKey(own, box).then((key) => key.kid)));
      expect(new Set(kids).size).to.equal(1);
      expect(await knex('signing_keys').count({ n: '*' }).first()).to.deep.equal({ n: '1' });
      expect((await ensureSigningKey(knex, box)).kid, 'later starts keep it').to.equal(kids[0]);
    } finally {
      await Promise.all(processes.map((own) => own.destroy()));
    }
  });

  it('keeps the private key encrypted by the secret box, and only under its key', async () => {
    const { kid, alg } = await ensureSigningKey(knex, box);
    expect(alg).to.equal('ES256');
    const row = await knex('signing_keys').where({ kid }).first();
    expect(row.private_key).to.match(/^v1\.test\./).and.not.include('"d"');
    expect(JSON.parse(box.decrypt(row.private_key))).to.include.keys('d', 'x', 'y');
    expect(row.public_jwk).to.not.have.property('d');
    expect(() => new SecretBox([{ id: 'test', key: randomBytes(32) }]).decrypt(row.private_key)).to.throw(SecretBoxError);
  });

  it('rotates in turn when rotations race: one active key, every other retired', async () => {
    const first = await ensureSigningKey(knex, box);
    const processes = Array.from({ length: 3 }, () => createKnex(harness.db.url, 1));
    try {
      await Promise.all(processes.map((own) => rotateSigningKey(own, box)));
    } finally {
      await Promise.all(processes.map((own) => own.destroy()));
    }
    const rows = await knex('signing_keys').orderBy('created_at');
    expect(rows).to.have.length(4);
    expect(rows.filter((row) => row.retired_at === null)).to.have.length(1);
    expect(rows[0].kid).to.equal(first.kid);
    expect((await publicJwks(knex)).keys, 'retired keys stay published while their tokens live').to.have.length(4);
  });

  it('stops publishing a key retired longer ago than any token lives', async () => {
    const old = await ensureSigningKey(knex, box);
    const { active } = await rotateSigningKey(knex, box);
    await knex('signing_keys').where({ kid: old.kid }).update({ retired_at: knex.raw("now() - interval '31 days'") });
    expect((await publicJwks(knex)).keys.map((key) => key.kid)).to.deep.equal([active.kid]);
  });

  it('publishes the public keys at /.well-known/jwks.json, to anyone, cacheable', async () => {
    const { kid } = await ensureSigningKey(knex, box);
    const res = await request(harness.app).get('/.well-known/jwks.json').expect(200);
    expect(res.headers['cache-control']).to.equal('public, max-age=300');
    expect(res.body.keys).to.have.length(1);
    const [key] = res.body.keys;
    expect(key).to.deep.equal({ ...key, kid, alg: 'ES256', use: 'sig', kty: 'EC', crv: 'P-256' });
    expect(Object.keys(key).sort()).to.deep.equal(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });
});
