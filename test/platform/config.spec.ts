import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/platform/config.js';

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

  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: 'abc' }, /PORT: must be an integer from 0 to 65535 \(got "abc"\)/],
    [{ PORT: '70000' }, /PORT/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL: must be a postgres:\/\/ connection string/],
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL/],
    [{ EVENT_STORE: 'kafka' }, /EVENT_STORE/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ EVENT_STORE: 'eventstoredb' }, /EVENTSTORE_CONNECTION_STRING is required/],
    [{ QUEUE_PREFIX: 'a:b' }, /QUEUE_PREFIX: must be letters, digits, _ or -/],
    [{ ACTION_HTTP_EXECUTORS: '{"send_email": ' }, /ACTION_HTTP_EXECUTORS: must be a JSON object of action kind to http\(s\) URL/],
    [{ ACTION_HTTP_EXECUTORS: '{"send_email": "ftp://mailer"}' }, /ACTION_HTTP_EXECUTORS/],
    [{ JOB_ATTEMPTS: '0' }, /JOB_ATTEMPTS: must be an integer from 1 to 100/],
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

  it('has rate limits, proxy trust, CORS, feed caps and server timeouts that protect one machine', () => {
    expect(loadConfig({})).to.deep.include({
      RATE_LIMIT_ADDRESS: { points: 1200, seconds: 60 },
      RATE_LIMIT_AUTH_FAILURES: { points: 10, seconds: 300 },
      RATE_LIMIT_COMMAND: { points: 300, seconds: 60 },
      RATE_LIMIT_QUERY: { points: 600, seconds: 60 },
      RATE_LIMIT_EXPORT: { points: 20, seconds: 60 },
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

  it('names every bad variable in one message', () => {
    expect(() => loadConfig({ PORT: 'x', REDIS_URL: 'y' })).to.throw(ConfigError, /PORT.*REDIS_URL/);
  });
});
