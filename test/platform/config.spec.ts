import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, loadConfig } from '../../src/platform/config.js';

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');
const PUBLIC_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const OIDC = { OIDC_ISSUER: 'https://idp.example.com/realms/deals', OIDC_JWKS_URL: 'https://idp.example.com/realms/deals/certs', OIDC_AUDIENCE: 'dealstream' };

describe('configuration', () => {
  it('has defaults that work on one machine', () => {
    const config = loadConfig({});
    expect(config).to.include({
      PORT: 3000,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/dealstream',
      REDIS_URL: 'redis://127.0.0.1:6379',
      EVENT_STORE: 'postgres',
    });
  });

  it('reads and converts settings from the environment', () => {
    const config = loadConfig({ PORT: '8080', DATABASE_POOL_MAX: '20', LOG_LEVEL: 'debug' });
    expect(config).to.include({ PORT: 8080, DATABASE_POOL_MAX: 20, LOG_LEVEL: 'debug' });
  });

  it('reads the webhook retry schedule; by default it spans more than a day', () => {
    expect(loadConfig({ WEBHOOK_RETRY_SCHEDULE: '250ms, 2s,1m,1h,1d' }).WEBHOOK_RETRY_SCHEDULE).to.deep.equal([250, 2000, 60_000, 3_600_000, 86_400_000]);
    const schedule = loadConfig({}).WEBHOOK_RETRY_SCHEDULE;
    expect(schedule[0]).to.equal(5000);
    expect(schedule.reduce((sum, ms) => sum + ms, 0)).to.be.above(24 * 3_600_000);
  });

  const bad: [Record<string, string | undefined>, RegExp][] = [
    [{ PORT: 'abc' }, /PORT: must be an integer from 0 to 65535 \(got "abc"\)/],
    [{ PORT: '70000' }, /PORT/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL: must be a postgres:\/\/ connection string/],
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL/],
    [{ EVENT_STORE: 'kafka' }, /EVENT_STORE/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ EVENT_STORE: 'eventstoredb' }, /EVENTSTORE_CONNECTION_STRING is required/],
    [{ QUEUE_PREFIX: 'a:b' }, /QUEUE_PREFIX: must be letters, digits, _ or -/],
    [{ ACTION_HTTP_EXECUTORS: '{"send_email": ' }, /ACTION_HTTP_EXECUTORS: must be a JSON object of snake_case action kind to http\(s\) URL/],
    [{ ACTION_HTTP_EXECUTORS: '{"send_email": "ftp://mailer"}' }, /ACTION_HTTP_EXECUTORS/],
    [{ ACTION_HTTP_EXECUTORS: '{"Send Email": "https://mailer.internal/execute"}' }, /ACTION_HTTP_EXECUTORS: must be a JSON object of snake_case action kind/],
    [{ JOB_ATTEMPTS: '0' }, /JOB_ATTEMPTS: must be an integer from 1 to 100/],
    [{ WEBHOOK_RETRY_SCHEDULE: '5s,soon' }, /WEBHOOK_RETRY_SCHEDULE: must be a comma list of durations/],
    [{ WEBHOOK_RETRY_SCHEDULE: '8d' }, /WEBHOOK_RETRY_SCHEDULE/],
    [{ WEBHOOK_RETRY_SCHEDULE: ' ' }, /WEBHOOK_RETRY_SCHEDULE/],
    [{ SECRETS_KEY: 'k1:c2hvcnQ=' }, /SECRETS_KEY: key "k1" must be 32 bytes in base64/],
    [{ SECRETS_KEY: `k.1:${KEY_A}` }, /SECRETS_KEY: each entry must be <keyId>:<base64 of 32 bytes>/],
    [{ AUTH_CLOCK_TOLERANCE_S: '301' }, /AUTH_CLOCK_TOLERANCE_S: must be an integer from 0 to 300/],
    [{ ...OIDC, OIDC_ISSUER: 'idp.example.com' }, /OIDC_ISSUER: must be an http\(s\) URL/],
    [{ ...OIDC, OIDC_JWKS_URL: 'ftp://idp.example.com/jwks' }, /OIDC_JWKS_URL: must be an http\(s\) URL/],
    [{ ...OIDC, OIDC_ALGORITHMS: 'RS256,HS256' }, /OIDC_ALGORITHMS: .*asymmetric only; refused: HS256/],
    [{ ...OIDC, OIDC_ALGORITHMS: 'none' }, /OIDC_ALGORITHMS: .*refused: none/],
    [{ ...OIDC, OIDC_ROLE_MAP: '{"deal-approver": "superuser"}' }, /OIDC_ROLE_MAP: must be a JSON object of claim value to one of admin/],
    [{ ...OIDC, OIDC_ROLE_MAP: '[' }, /OIDC_ROLE_MAP/],
    [{ ...OIDC, OIDC_ROLES_CLAIM: 'realm_access..roles' }, /OIDC_ROLES_CLAIM: must be a claim name or a dot path/],
    [{ ...OIDC, OIDC_JWKS_URL: undefined, OIDC_PUBLIC_KEY: 'not a key' }, /OIDC_PUBLIC_KEY: must be a public key in PEM/],
    [{ ...OIDC, OIDC_AUDIENCE: undefined }, /OIDC_AUDIENCE is required with OIDC_ISSUER/],
    [{ ...OIDC, OIDC_AUDIENCE: ' , ' }, /OIDC_AUDIENCE: must name at least one audience/],
    [{ ...OIDC, OIDC_PUBLIC_KEY: PUBLIC_KEY }, /exactly one of OIDC_JWKS_URL and OIDC_PUBLIC_KEY/],
    [{ ...OIDC, OIDC_JWKS_URL: undefined }, /exactly one of OIDC_JWKS_URL and OIDC_PUBLIC_KEY/],
    [{ OIDC_JWKS_URL: 'https://idp.example.com/jwks' }, /OIDC_ISSUER is required with OIDC_JWKS_URL/],
    [{ ...OIDC, OIDC_ISSUER: 'https://dealstream.example.com', AUTH_TOKEN_ISSUER: 'https://dealstream.example.com' }, /OIDC_ISSUER must differ from AUTH_TOKEN_ISSUER/],
    [{ RATE_LIMIT_QUERY: '100' }, /RATE_LIMIT_QUERY: must be <points>\/<seconds> \(e\.g\. 100\/60\) or off/],
    [{ RATE_LIMIT_COMMAND: '0/60' }, /RATE_LIMIT_COMMAND: must be <points>\/<seconds>/],
    [{ RATE_LIMIT_ADDRESS: '10/0' }, /RATE_LIMIT_ADDRESS/],
    [{ RATE_LIMIT_AUTH_FAILURES: '5/100000' }, /RATE_LIMIT_AUTH_FAILURES/],
    [{ RATE_LIMIT_EXPORT: '-1/60' }, /RATE_LIMIT_EXPORT/],
    [{ TRUST_PROXY: 'true' }, /TRUST_PROXY: must be off, a number of hops, or a comma list/],
    [{ TRUST_PROXY: '10.0.0.0/33' }, /TRUST_PROXY/],
    [{ CORS_ORIGINS: 'https://app.example.com/path' }, /CORS_ORIGINS: must be a comma list of origins/],
    [{ CORS_ORIGINS: '*' }, /CORS_ORIGINS/],
    [{ FEED_MAX_CONNECTIONS_PER_PRINCIPAL: '0' }, /FEED_MAX_CONNECTIONS_PER_PRINCIPAL: must be an integer from 1/],
    [{ HTTP_REQUEST_TIMEOUT_MS: '10' }, /HTTP_REQUEST_TIMEOUT_MS: must be an integer from 1000/],
    [{ HTTP_REQUEST_TIMEOUT_MS: '5000', HTTP_HEADERS_TIMEOUT_MS: '6000' }, /HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS/],
    [{ OUTBOUND_ALLOW_PRIVATE: '10.0.0.0/33' }, /OUTBOUND_ALLOW_PRIVATE: must be a comma list of CIDRs: "10\.0\.0\.0\/33" is not an address or CIDR/],
    [{ OUTBOUND_ALLOW_PRIVATE: '127.0.0.1/32,localhost' }, /OUTBOUND_ALLOW_PRIVATE: .*"localhost"/],
  ];
  for (const [env, message] of bad) {
    it(`stops on ${JSON.stringify(env)} with a message naming the variable`, () => {
      expect(() => loadConfig(env)).to.throw(ConfigError, message);
    });
  }

  it('reads the action kinds the http executor serves', () => {
    expect(loadConfig({ ACTION_HTTP_EXECUTORS: '{"send_email": "https://mailer.internal/execute"}' }).ACTION_HTTP_EXECUTORS).to.deep.equal({
      send_email: 'https://mailer.internal/execute',
    });
  });

  it('has token settings that work on one machine: own tokens only, a key file for secrets', () => {
    const config = loadConfig({});
    expect(config).to.include({ AUTH_TOKEN_ISSUER: 'dealstream', AUTH_TOKEN_AUDIENCE: 'dealstream', AUTH_CLOCK_TOLERANCE_S: 30, SECRETS_KEY_FILE: '.dealstream/secrets.key' });
    expect(config.SECRETS_KEY).to.equal(undefined);
    expect(config.OIDC_ISSUER).to.equal(undefined);
    expect(loadConfig({ SECRETS_KEY: '' }).SECRETS_KEY, 'set but empty is unset').to.equal(undefined);
  });

  it('reads a keyring whose first key encrypts', () => {
    const { SECRETS_KEY } = loadConfig({ SECRETS_KEY: `k2026:${KEY_B}, k2025:${KEY_A}` });
    expect(SECRETS_KEY!.map((key) => key.id)).to.deep.equal(['k2026', 'k2025']);
    expect(SECRETS_KEY![0]!.key.equals(Buffer.from(KEY_B, 'base64'))).to.equal(true);
  });

  it('reads an external OpenID Connect provider', () => {
    const config = loadConfig({
      ...OIDC,
      OIDC_AUDIENCE: 'dealstream, account',
      OIDC_ROLES_CLAIM: 'realm_access.roles',
      OIDC_ROLE_MAP: '{"deal-approver": "approver"}',
      OIDC_ALGORITHMS: 'RS256, ES384',
    });
    expect(config).to.deep.include({
      OIDC_ISSUER: OIDC.OIDC_ISSUER,
      OIDC_AUDIENCE: ['dealstream', 'account'],
      OIDC_ROLES_CLAIM: 'realm_access.roles',
      OIDC_ROLE_MAP: { 'deal-approver': 'approver' },
      OIDC_ALGORITHMS: ['RS256', 'ES384'],
      OIDC_NAME_CLAIM: 'name',
    });
    expect(loadConfig(OIDC).OIDC_ALGORITHMS).to.deep.equal(['RS256', 'ES256', 'PS256', 'EdDSA']);
  });

  it('reads a PEM public key, also written on one line with \\n', () => {
    const oneLine = PUBLIC_KEY.trim().replace(/\n/g, '\\n');
    const config = loadConfig({ ...OIDC, OIDC_JWKS_URL: undefined, OIDC_PUBLIC_KEY: oneLine });
    expect(config.OIDC_PUBLIC_KEY).to.equal(PUBLIC_KEY.trim());
  });

  it('never repeats a secret in its message', () => {
    const withTypo = `new:${KEY_A},old:${KEY_B.slice(0, 20)}`;
    expect(() => loadConfig({ SECRETS_KEY: withTypo })).to.throw(ConfigError, /SECRETS_KEY: key "old" must be 32 bytes/);
    try {
      loadConfig({ SECRETS_KEY: withTypo });
    } catch (error) {
      expect((error as Error).message).to.not.include(KEY_A).and.not.include(KEY_B.slice(0, 20));
    }
  });

  it('has rate limits, proxy trust, CORS, feed caps and server timeouts that protect one machine', () => {
    expect(loadConfig({})).to.deep.include({
      RATE_LIMIT_ADDRESS: { points: 6000, seconds: 60 },
      RATE_LIMIT_AUTH_FAILURES: { points: 20, seconds: 300 },
      RATE_LIMIT_COMMAND: { points: 1200, seconds: 60 },
      RATE_LIMIT_QUERY: { points: 1800, seconds: 60 },
      RATE_LIMIT_EXPORT: { points: 60, seconds: 60 },
      TRUST_PROXY: false,
      CORS_ORIGINS: [],
      FEED_MAX_CONNECTIONS: 200,
      FEED_MAX_CONNECTIONS_PER_PRINCIPAL: 5,
      HTTP_REQUEST_TIMEOUT_MS: 30_000,
      HTTP_HEADERS_TIMEOUT_MS: 10_000,
      HTTP_KEEP_ALIVE_TIMEOUT_MS: 5000,
    });
  });

  it('reads rate limits as points per seconds, or off', () => {
    const config = loadConfig({ RATE_LIMIT_QUERY: '50/10', RATE_LIMIT_EXPORT: 'off' });
    expect(config.RATE_LIMIT_QUERY).to.deep.equal({ points: 50, seconds: 10 });
    expect(config.RATE_LIMIT_EXPORT).to.equal(undefined);
  });

  it('reads which proxies to trust and which origins may call cross-origin', () => {
    expect(loadConfig({ TRUST_PROXY: '1' }).TRUST_PROXY).to.equal(1);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::1' }).TRUST_PROXY).to.deep.equal(['loopback', '10.0.0.0/8', 'fd00::1']);
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).CORS_ORIGINS).to.deep.equal(['https://app.example.com', 'http://localhost:5173']);
  });

  it('reads the private networks outbound calls may reach, none by default', () => {
    expect(loadConfig({}).OUTBOUND_ALLOW_PRIVATE).to.deep.equal([]);
    expect(loadConfig({ OUTBOUND_ALLOW_PRIVATE: '127.0.0.1/32, fd00::/8,10.1.2.3' }).OUTBOUND_ALLOW_PRIVATE).to.deep.equal(['127.0.0.1/32', 'fd00::/8', '10.1.2.3/32']);
  });

  it('names every bad variable in one message', () => {
    expect(() => loadConfig({ PORT: 'x', REDIS_URL: 'y' })).to.throw(ConfigError, /PORT.*REDIS_URL/);
  });
});
