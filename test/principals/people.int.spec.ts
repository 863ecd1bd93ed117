import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import request from 'supertest';
import { issueToken } from '../../src/auth/tokens/issue-token.js';
import { publicJwks } from '../../src/auth/tokens/signing-keys.js';
import { derivedUuid } from '../../src/commands/event-ids.js';
import { principalStreamId } from '../../src/domain/principals/principal.events.js';
import { loadConfig } from '../../src/platform/config.js';
import { SecretBox } from '../../src/platform/secret-box.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { collect, patient } from '../support/async.js';
import { payloadOf } from '../support/action-payloads.js';

const now = () => Math.floor(Date.now() / 1000);

/** People signing in with tokens, dealstream's own and an identity provider's, end to end over HTTP. */
describe('principals: people through tokens', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let idp: Server;
  let idpKey: Awaited<ReturnType<typeof generateKeyPair>>;
  let keys: Record<string, string>;
  const box = new SecretBox([{ id: 'test', key: randomBytes(32) }]);
  const config = loadConfig({});
  const IDP = 'https://idp.example.test/realms/acme';

  before(async () => {
    // An identity provider's JWKS, served over real HTTP on loopback.
    idpKey = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(idpKey.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
    idp = createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
    idp.listen(0, '127.0.0.1');
    await once(idp, 'listening');
    const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/certs`;
    harness = await startTestApp({ tokenSettings: { OIDC_ISSUER: IDP, OIDC_JWKS_URL: jwksUrl, OIDC_AUDIENCE: 'dealstream-api', OIDC_ROLES_CLAIM: 'realm_access.roles', OIDC_ROLE_MAP: '{"deal-approvers":"approver"}' } });
    keys = await createKeys(harness.knex, { root: 'admin' });
  });
  after(async () => {
    await harness.close();
    idp.close();
  });

  const me = (token: string) => request(harness.app).get('/api/me').set('authorization', `Bearer ${token}`);
  const own = (subject: string, roles: ('approver' | 'operator' | 'admin')[], ttlSeconds = 600) =>
    issueToken(harness.knex, box, { subject, roles, name: subject.toUpperCase(), ttlSeconds }, config).then((issued) => issued.token);
  const idpToken = (claims: JWTPayload = {}) =>
    new SignJWT({ iss: IDP, aud: 'dealstream-api', sub: 'u-42', name: 'Grace', realm_access: { roles: ['deal-approvers', 'offline'] }, iat: now(), exp: now() + 600, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
      .sign(idpKey.privateKey);

  it("signs a person in with dealstream's own token: the subject is the principal, created on first sight as an event", async () => {
    const res = await me(await own('alice', ['approver'])).expect(200);
    expect(res.body).to.deep.include({ id: 'alice', kind: 'user', name: 'ALICE', roles: ['approver'], credential: { type: 'token', issuer: 'dealstream' } });
    await me(await own('alice', ['approver', 'operator'])).expect(200);
    const events = await collect(harness.store.readStream(principalStreamId('alice')));
    expect(events.map((e) => e.type)).to.deep.equal(['PrincipalCreated']);
    expect(events[0]!.data).to.deep.include({ principalId: 'alice', kind: 'user', issuer: 'dealstream', subject: 'alice' });
  });

  it("signs a person in with an identity provider's token: roles through the claim and map, the id derived from issuer and subject", async () => {
    const res = await me(await idpToken()).expect(200);
    expect(res.body).to.deep.include({ id: derivedUuid('person', IDP, 'u-42'), name: 'Grace', roles: ['approver'], credential: { type: 'token', issuer: IDP } });
  });

  it('acts as the person: four-eyes compares the person, whatever credential they use', async () => {
    const token = await own('olga', ['operator', 'approver']);
    const deal = await request(harness.app).post('/api/deals').set('authorization', `Bearer ${token}`).send({ name: 'Big', company: 'Acme', amount: { amount: '900000', currency: 'USD' } }).expect(201);
    const dealId = deal.headers.location!.split('/').pop();
    const action = await request(harness.app).post('/api/actions').set('authorization', `Bearer ${token}`).send({ dealId, kind: 'share_data_room', title: 'Share', payload: payloadOf('share_data_room') }).expect(201);
    const [proposed] = await collect(harness.store.readStream(`action-${action.headers.location!.split('/').pop()}`));
    expect(proposed!.metadata.actor).to.deep.equal({ kind: 'user', id: 'olga' });
    const later = await own('olga', ['approver']);
    const refused = await request(harness.app).post(`${action.headers.location}/approve`).set('authorization', `Bearer ${later}`).send({}).expect(409);
    expect(refused.body.code).to.equal('ACTION.SELF_APPROVAL');
  });

  it('refuses expired, wrong-audience, wrong-issuer, wrong-key, alg none and HS/RS-confused tokens, and tokens of a disabled person: 401 with WWW-Authenticate', async () => {
    const { privateKey: stranger } = await generateKeyPair('RS256');
    const unsigned = (payload: object) => `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;
    const hsWithPublicKey = async () => {
      const jwks = await publicJwks(harness.knex);
      const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: jwks.keys[0]!.kid })).toString('base64url');
      const payload = Buffer.from(JSON.stringify({ iss: 'dealstream', aud: 'dealstream', sub: 'mallory', roles: ['admin'], exp: now() + 600 })).toString('base64url');
      const signature = createHmac('sha256', JSON.stringify(jwks.keys[0])).update(`${header}.${payload}`).digest('base64url');
      return `${header}.${payload}.${signature}`;
    };
    await me(await own('dana', ['approver'])).expect(200);
    await request(harness.app).post('/api/principals/dana/disable').set('authorization', `Bearer ${keys.root}`).send({}).expect(200);
    const refused = {
      expired: await idpToken({ exp: now() - 3600 }),
      'wrong audience': await idpToken({ aud: 'someone-else' }),
      'wrong issuer': await idpToken({ iss: 'https://evil.example.test' }),
      'wrong key': await new SignJWT({ iss: IDP, aud: 'dealstream-api', sub: 'u-42', exp: now() + 600 }).setProtectedHeader({ alg: 'RS256', kid: 'idp-1' }).sign(stranger),
      'alg none': unsigned({ iss: IDP, aud: 'dealstream-api', sub: 'u-42', exp: now() + 600 }),
      'HS256 keyed with the public key': await hsWithPublicKey(),
      'a disabled person': await own('dana', ['approver']),
    };
    for (const [what, token] of Object.entries(refused)) {
      const res = await me(token);
      expect(res.status, what).to.equal(401);
      expect(res.headers['www-authenticate'], what).to.equal('Bearer realm="dealstream", error="invalid_token"');
      expect(res.body.code, what).to.equal('AUTH.UNAUTHENTICATED');
    }
  });

  it('serves its public signing keys at /.well-known/jwks.json, without their private parts', async () => {
    const res = await request(harness.app).get('/.well-known/jwks.json').expect(200);
    expect(res.body.keys).to.have.length.greaterThan(0);
    for (const key of res.body.keys) expect(key).to.include({ alg: 'ES256', use: 'sig' }).and.not.have.property('d');
  });
});
