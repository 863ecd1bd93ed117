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

  it('names every bad variable in one message', () => {
    expect(() => loadConfig({ PORT: 'x', REDIS_URL: 'y' })).to.throw(ConfigError, /PORT.*REDIS_URL/);
  });
});
