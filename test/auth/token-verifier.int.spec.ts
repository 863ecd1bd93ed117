import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import type { Knex } from 'knex';
import { issueToken } from '../../src/auth/tokens/issue-token.js';
import { activeSigningKey, publicJwks, rotateSigningKey } from '../../src/auth/tokens/signing-keys.js';
import { TokenRejectedError, TokenVerifier, looksLikeJwt } from '../../src/auth/tokens/token-verifier.js';
import { loadConfig, type Config } from '../../src/platform/config.js';
import type { TokenVerifier as PeopleTokenVerifier } from '../../src/principals/people.js';
import { createKnex } from '../../src/platform/database.js';
import { SecretBox } from '../../src/platform/secret-box.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { patient } from '../support/async.js';

const now = () => Math.floor(Date.now() / 1000);
const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('token verifier', function () {
  this.timeout(patient(30_000));
  let db: TestDatabase;
  let knex: Knex;
  const box = new SecretBox([{ id: 'test', key: randomBytes(32) }]);
  const config = loadConfig({});

  before(async () => {
    db = await createTestDatabase('dealstream_tokens');
    knex = createKnex(db.url, 4);
  });
  after(async () => {
    await knex.destroy();
    await db.drop();
  });
  beforeEach(() => knex('signing_keys').del());

  /** Rejected, with this reason, and the error never quotes the token. */
  async function expectRejected(verifier: TokenVerifier, token: string, reason: string | RegExp): Promise<void> {
    const error = await verifier.verify(token).then(
      () => expect.fail('the token was accepted'),
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(TokenRejectedError);
    expect((error as TokenRejectedError).reason).to.match(typeof reason === 'string' ? new RegExp(`^${reason}$`) : reason);
    expect((error as Error).message).to.not.include(token.split('.')[1] || token);
  }

  describe("dealstream's own tokens", () => {
    /** A token as dealstream would sign it, with these claims changed (undefined: left out). */
    async function ownToken(claims: JWTPayload = {}, key?: { privateKey: CryptoKey; kid: string }): Promise<string> {
      const signer = key ?? (await activeSigningKey(knex, box));
      const payload: JWTPayload = { iss: 'dealstream', aud: 'dealstream', sub: 'alice', roles: ['approver'], iat: now(), exp: now() + 600, ...claims };
      for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name];
      return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: signer.kid }).sign(signer.privateKey);
    }

    it('accepts a token it issued: issuer, subject, real roles only, name and expiry', async () => {
      const issued = await issueToken(knex, box, { subject: 'alice', roles: ['approver', 'auditor'], name: 'Alice Liddell', ttlSeconds: 600 }, config);
      expect(looksLikeJwt(issued.token)).to.equal(true);
      const header = JSON.parse(Buffer.from(issued.token.split('.')[0]!, 'base64url').toString());
      expect(header).to.deep.equal({ alg: 'ES256', kid: issued.kid, typ: 'JWT' });
      // Typed as sign-in (src/principals/people.ts) takes it: this compiles only while the two fit.
      const signIn: PeopleTokenVerifier = new TokenVerifier(knex, config);
      const identity = await signIn.verify(issued.token);
      expect(identity).to.deep.equal({ issuer: 'dealstream', subject: 'alice', roles: ['approver', 'auditor'], name: 'Alice Liddell', expiresAt: issued.expiresAt });
      expect(issued.expiresAt.getTime() / 1000 - now()).to.be.within(590, 600);

      const unknownRoles = await ownToken({ roles: ['approver', 'root', 'superuser'] });
      expect((await new TokenVerifier(knex, config).verify(unknownRoles)).roles).to.deep.equal(['approver']);
    });

    it('tolerates clock skew up to AUTH_CLOCK_TOLERANCE_S, and no further', async () => {
      const verifier = new TokenVerifier(knex, config);
      await verifier.verify(await ownToken({ exp: now() - 10 }));
      await verifier.verify(await ownToken({ nbf: now() + 10 }));
      await expectRejected(verifier, await ownToken({ exp: now() - 60 }), 'expired');
      await expectRejected(verifier, await ownToken({ nbf: now() + 60 }), 'not yet valid');
    });

    it('rejects a wrong audience, an unknown issuer, a missing subject or expiry', async () => {
      const verifier = new TokenVerifier(knex, config);
      await expectRejected(verifier, await ownToken({ aud: 'another-service' }), 'wrong audience');
      await expectRejected(verifier, await ownToken({ iss: 'https://evil.example.com' }), 'unknown issuer');
      await expectRejected(verifier, await ownToken({ iss: undefined }), 'unknown issuer');
      await expectRejected(verifier, await ownToken({ sub: undefined }), 'no sub');
      await expectRejected(verifier, await ownToken({ sub: '' }), /sub/);
      await expectRejected(verifier, await ownToken({ exp: undefined }), 'no exp');
    });

    it('rejects a token signed by another key, under a known or an unknown kid', async () => {
      const { kid } = await activeSigningKey(knex, box);
      const { privateKey } = await generateKeyPair('ES256');
      const verifier = new TokenVerifier(knex, config, { keyReloadIntervalMs: 50 });
      await expectRejected(verifier, await ownToken({}, { privateKey, kid }), 'bad signature');
      await expectRejected(verifier, await ownToken({}, { privateKey, kid: 'made-up' }), 'unknown signing key');
    });

    it("rejects an unsigned token (alg none) and an HS256 one keyed with the public key's bytes", async () => {
      const { kid } = await activeSigningKey(knex, box);
      const payload = base64url({ iss: 'dealstream', aud: 'dealstream', sub: 'mallory', roles: ['admin'], exp: now() + 600 });
      const verifier = new TokenVerifier(knex, config);
      await expectRejected(verifier, `${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.`, 'algorithm not allowed');
      await expectRejected(verifier, `${base64url({ alg: 'none', kid })}.${payload}.`, 'algorithm not allowed');

      // Key confusion: an attacker who knows the public key (it is published) uses it as an HMAC secret.
      const jwk = (await publicJwks(knex)).keys[0]!;
      for (const secret of [JSON.stringify(jwk), Buffer.from(jwk.x!, 'base64url').toString('latin1')]) {
        const header = base64url({ alg: 'HS256', kid, typ: 'JWT' });
        const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
        await expectRejected(verifier, `${header}.${payload}.${signature}`, 'algorithm not allowed');
      }
    });

    it('rejects what is not a JWT before any work', async () => {
      const verifier = new TokenVerifier(knex, config);
      for (const credential of ['ds_abc', 'a.b', 'a.b.c.d', 'not base64.x.y', `${'a'.repeat(20_000)}.b.c`]) {
        expect(looksLikeJwt(credential) && credential.length < 16_384, credential.slice(0, 20)).to.equal(false);
        await expectRejected(verifier, credential, 'malformed');
      }
      await expectRejected(verifier, 'aaaa.bbbb.cccc', 'malformed');
    });

    it('after a rotation elsewhere, keeps verifying tokens of the old key and verifies those of the new one', async () => {
      const verifier = new TokenVerifier(knex, config, { keyReloadIntervalMs: 500 });
      const before = await issueToken(knex, box, { subject: 'alice', roles: ['approver'] }, config);
      await verifier.verify(before.token);

      const { active, retired } = await rotateSigningKey(knex, box);
      expect(retired).to.deep.equal([before.kid]);
      const after = await issueToken(knex, box, { subject: 'alice', roles: ['approver'] }, config);
      expect(after.kid).to.equal(active.kid).and.not.equal(before.kid);
      expect((await publicJwks(knex)).keys.map((key) => key.kid)).to.deep.equal([after.kid, before.kid]);

      // This verifier loaded the keys just now: the new kid waits for the next load it may make.
      expect((await verifier.verify(after.token)).subject).to.equal('alice');
      expect((await verifier.verify(before.token)).subject).to.equal('alice');
    });

    it('loads the keys at most once per interval, however many unknown kids arrive', async () => {
      const counted = createKnex(db.url, 2);
      let reads = 0;
      counted.on('query', (query: { sql: string }) => void (query.sql.includes('signing_keys') && reads++));
      try {
        const { privateKey } = await generateKeyPair('ES256');
        const forged = (prefix: string) => Promise.all(Array.from({ length: 10 }, (_, i) => ownToken({}, { privateKey, kid: `${prefix}-${i}` })));
        const [first, second] = [await forged('made-up'), await forged('later')];
        const verifier = new TokenVerifier(counted, config, { keyReloadIntervalMs: 300 });
        const started = Date.now();
        // The first load, then one more that they all wait for; then one more for the next flood.
        await Promise.all(first.map((token) => expectRejected(verifier, token, 'unknown signing key')));
        expect(reads).to.equal(2);
        await Promise.all(second.map((token) => expectRejected(verifier, token, 'unknown signing key')));
        expect(reads).to.equal(3);
        expect(Date.now() - started, 'each load waited for the interval').to.be.at.least(2 * 300 - 20);
      } finally {
        await counted.destroy();
      }
    });
  });

  describe('an external OpenID Connect provider', () => {
    const issuer = 'https://idp.example.test/realms/deals';
    let server: Server;
    let jwksRequests = 0;
    let provider: { privateKey: CryptoKey; publicKey: CryptoKey };
    let providerConfig: Config;

    before(async () => {
      provider = await generateKeyPair('RS256');
      const published = { keys: [{ ...(await exportJWK(provider.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' }] };
      server = createServer((req, res) => {
        jwksRequests++;
        if (req.url !== '/realms/deals/certs') return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(published));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      providerConfig = loadConfig({
        OIDC_ISSUER: issuer,
        OIDC_JWKS_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/deals/certs`,
        OIDC_AUDIENCE: 'dealstream,account',
        OIDC_ROLES_CLAIM: 'realm_access.roles',
        OIDC_ROLE_MAP: '{"deal-approver": "approver", "deal-admin": "admin"}',
        OUTBOUND_ALLOW_PRIVATE: '127.0.0.1/32', // the provider of the test listens on loopback
      });
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    async function providerToken(claims: JWTPayload = {}, options: { alg?: string; kid?: string; key?: CryptoKey } = {}): Promise<string> {
      const payload: JWTPayload = {
        iss: issuer,
        aud: ['account', 'dealstream'],
        sub: 'f3b1c2d4-0000-4000-8000-000000000001',
        realm_access: { roles: ['deal-approver', 'auditor', 'offline_access', 'uma_authorization'] },
        preferred_username: 'bob',
        iat: now(),
        exp: now() + 300,
        ...claims,
      };
      return new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'idp-1' }).sign(options.key ?? provider.privateKey);
    }

    it("verifies its token with keys fetched from its JWKS, roles from a nested claim through the role map, and the bearer's name", async () => {
      const requestsBefore = jwksRequests;
      const identity = await new TokenVerifier(knex, providerConfig).verify(await providerToken());
      expect(identity).to.deep.include({ issuer, subject: 'f3b1c2d4-0000-4000-8000-000000000001', roles: ['approver', 'auditor'], name: 'bob' });
      expect(jwksRequests, 'over real HTTP').to.be.above(requestsBefore);
      const named = await new TokenVerifier(knex, providerConfig).verify(await providerToken({ name: 'Bob Builder' }));
      expect(named.name).to.equal('Bob Builder');
    });

    it('fetches the JWKS through the outbound guard: a provider on loopback, not allowlisted, is never called', async () => {
      const requestsBefore = jwksRequests;
      const strict = new TokenVerifier(knex, { ...providerConfig, OUTBOUND_ALLOW_PRIVATE: [] });
      await expectRejected(strict, await providerToken(), 'signing keys unavailable');
      expect(jwksRequests).to.equal(requestsBefore);
    });

    it("still verifies dealstream's own tokens beside the provider's", async () => {
      const issued = await issueToken(knex, box, { subject: 'carol', roles: ['operator'] }, providerConfig);
      expect(await new TokenVerifier(knex, providerConfig).verify(issued.token)).to.deep.include({ issuer: 'dealstream', subject: 'carol', roles: ['operator'] });
    });

    it('rejects its tokens with a wrong audience, another key, a symmetric algorithm, or the other issuer', async () => {
      const verifier = new TokenVerifier(knex, providerConfig);
      await expectRejected(verifier, await providerToken({ aud: 'another-app' }), 'wrong audience');
      await expectRejected(verifier, await providerToken({ exp: now() - 120 }), 'expired');
      const stranger = await generateKeyPair('RS256');
      await expectRejected(verifier, await providerToken({}, { key: stranger.privateKey }), 'bad signature');
      const pem = await exportSPKI(provider.publicKey);
      const header = base64url({ alg: 'HS256', kid: 'idp-1' });
      const payload = base64url({ iss: issuer, aud: 'dealstream', sub: 'mallory', exp: now() + 300 });
      await expectRejected(verifier, `${header}.${payload}.${createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url')}`, 'algorithm not allowed');
      // dealstream's key does not vouch for the provider's issuer.
      const own = await activeSigningKey(knex, box);
      await expectRejected(verifier, await providerToken({}, { alg: 'ES256', kid: own.kid, key: own.privateKey }), 'unknown signing key');
      // Without the provider configured, its issuer is unknown.
      await expectRejected(new TokenVerifier(knex, config), await providerToken(), 'unknown issuer');
    });

    it('verifies with a PEM public key instead, roles from a space-separated claim whose name has dots', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const pemConfig = loadConfig({
        OIDC_ISSUER: issuer,
        OIDC_PUBLIC_KEY: await exportSPKI(publicKey),
        OIDC_AUDIENCE: 'dealstream',
        OIDC_ROLES_CLAIM: 'https://dealstream.example/roles',
        OIDC_NAME_CLAIM: 'display_name',
      });
      const token = await providerToken(
        { aud: 'dealstream', 'https://dealstream.example/roles': 'operator  approver nonsense', display_name: 'Dee', preferred_username: 'dee42' },
        { alg: 'ES256', key: privateKey },
      );
      const verifier = new TokenVerifier(knex, pemConfig);
      expect(await verifier.verify(token)).to.deep.include({ roles: ['operator', 'approver'], name: 'Dee' });
      await expectRejected(verifier, await providerToken({ aud: 'dealstream' }), 'unusable algorithm or key');
      await expectRejected(verifier, await providerToken({ aud: 'dealstream' }, { alg: 'ES256', key: (await generateKeyPair('ES256')).privateKey }), 'bad signature');
    });
  });
});
