import { expect } from 'chai';
import { Redis } from 'ioredis';
import request from 'supertest';
import winston from 'winston';
import Transport from 'winston-transport';
import { generateApiKey } from '../../src/auth/api-keys.js';
import { createApp } from '../../src/http/app.js';
import { RateLimits, addressKey, routeClass, type RateLimitBudgets } from '../../src/http/rate-limits.js';
import { createKnex } from '../../src/platform/database.js';
import { silentLogger } from '../../src/platform/logger.js';
import { ReadPositions } from '../../src/queries/read-positions.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createApiKey } from '../support/principals.js';
import { freePort, startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { spawnDealstream, type DealstreamProcess } from '../support/processes.js';
import { REDIS_URL, dropTestPrefixes, testPrefix } from '../support/workers.js';

const GENEROUS = { points: 10_000, seconds: 60 };
const budgets = (overrides: Partial<RateLimitBudgets>): RateLimitBudgets => ({ address: GENEROUS, authentication: GENEROUS, command: GENEROUS, query: GENEROUS, export: GENEROUS, ...overrides });

/** A logger that keeps its warnings, to count the lines an outage writes. */
function recordingLogger() {
  const lines: string[] = [];
  const logger = winston.createLogger({
    level: 'warn',
    transports: [
      new (class extends Transport {
        override log(info: { message: string }, done: () => void) {
          lines.push(info.message);
          done();
        }
      })(),
    ],
  });
  return { logger, lines };
}

describe('rate limits', function () {
  this.timeout(patient(90_000));
  after(() => dropTestPrefixes());

  it('classes requests under /api by route: exports, commands, queries', () => {
    const classOf = (method: string, originalUrl: string) => routeClass({ method, originalUrl });
    expect(classOf('GET', '/api/audit/export?category=deal')).to.equal('export');
    expect(classOf('GET', '/API/Audit/Export')).to.equal('export');
    expect(classOf('GET', '/api/integrations/feed')).to.equal('export');
    expect(classOf('GET', '/api/integrations/feed/')).to.equal('export');
    expect(classOf('GET', '/api/integrations/event-types')).to.equal('query');
    expect(classOf('GET', '/api/deals')).to.equal('query');
    for (const method of ['POST', 'PATCH', 'PUT', 'DELETE']) expect(classOf(method, '/api/deals/1')).to.equal('command');
  });

  it('counts IPv4 addresses as they are and IPv6 ones by their /64', () => {
    expect(addressKey('203.0.113.9')).to.equal('203.0.113.9');
    expect(addressKey('::ffff:203.0.113.9')).to.equal('203.0.113.9');
    expect(addressKey('2001:db8:1:2:aaaa::1')).to.equal('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).to.equal('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).to.equal('2001:db8:0:0::/64');
    expect(addressKey('::1')).to.equal('0:0:0:0::/64');
  });

  describe('in one process', () => {
    let harness: TestApp;
    let limits: RateLimits;
    let keys: Record<string, string>;

    before(async () => {
      limits = new RateLimits({
        redisUrl: REDIS_URL,
        prefix: testPrefix(),
        logger: silentLogger(),
        budgets: budgets({ address: { points: 40, seconds: 60 }, authentication: { points: 3, seconds: 60 }, command: { points: 2, seconds: 60 }, query: { points: 3, seconds: 60 }, export: { points: 1, seconds: 60 } }),
      });
      harness = await startTestApp({ http: { limits } });
      keys = await createKeys(harness.knex, { ops: 'operator', root: 'admin', other: 'operator' });
    });
    after(async () => {
      await harness.close();
      await limits.close();
    });

    it('counts commands, queries and exports of each principal apart, with RateLimit headers on what passes and 429 problem+json beyond', async () => {
      const as = (who: string) => ({ authorization: `Bearer ${keys[who]}` });
      const deal = { name: 'Acme', company: 'Acme Ltd', amount: { amount: '1.00', currency: 'EUR' } };
      const created = await request(harness.app).post('/api/deals').set(as('ops')).send(deal).expect(201);
      expect(created.headers['ratelimit-policy']).to.equal('2;w=60');
      expect(created.headers.ratelimit).to.match(/^limit=2, remaining=1, reset=(60|59)$/);
      await request(harness.app).post('/api/deals').set(as('ops')).send(deal).expect(201);
      const refused = await request(harness.app).post('/api/deals').set(as('ops')).send(deal).expect(429);
      expect(refused.type).to.equal('application/problem+json');
      expect(refused.body).to.include({ type: '/problems/rate-limited', status: 429, code: 'RATE_LIMITED', limit: 'command' });
      expect(refused.body.detail).to.match(/^The command limit is spent: at most 2 commands of this principal per 60 s; try again in \d+ s$/);
      expect(Number(refused.headers['retry-after'])).to.be.within(1, 60);
      expect(refused.headers.ratelimit).to.match(/^limit=2, remaining=0, reset=\d+$/);

      for (let i = 0; i < 3; i++) await request(harness.app).get('/api/deals').set(as('ops')).expect(200); // queries count apart
      expect((await request(harness.app).get('/api/deals').set(as('ops')).expect(429)).body.limit).to.equal('query');
      await request(harness.app).post('/api/deals').set(as('other')).send(deal).expect(201); // and per principal

      await request(harness.app).get('/api/audit/export').set(as('root')).expect(200);
      expect((await request(harness.app).get('/api/audit/export').set(as('root')).expect(429)).body.limit).to.equal('export');
      await request(harness.app).get('/api/deals').set(as('root')).expect(200);
    });

    it('counts every request of an address before authentication, credential or not', async () => {
      let status = 0;
      let sent = 0;
      while (status !== 429 && sent < 100) {
        status = (await request(harness.app).get('/api/nothing')).status;
        sent++;
      }
      expect(status).to.equal(429);
      expect(sent, 'the 40 of the window, less what the other tests of this app sent').to.be.at.most(41);
      const refused = await request(harness.app).get('/api/deals').set({ authorization: `Bearer ${keys.root}` }).expect(429);
      expect(refused.body.limit).to.equal('address');
      expect(refused.headers['ratelimit-policy']).to.equal('40;w=60');
      await request(harness.app).get('/health').expect(200); // health and docs are not limited
    });
  });

  it("counts the socket's address, not what X-Forwarded-For claims, unless TRUST_PROXY names the proxy", async () => {
    const statuses = async (trustProxy: string | false) => {
      const limits = new RateLimits({ redisUrl: REDIS_URL, prefix: testPrefix(), logger: silentLogger(), budgets: budgets({ address: { points: 2, seconds: 60 } }) });
      const harness = await startTestApp({ http: { limits, trustProxy: trustProxy ? [trustProxy] : false } });
      try {
        const seen: number[] = [];
        for (let i = 1; i <= 4; i++) seen.push((await request(harness.app).get('/api/deals').set('x-forwarded-for', `198.51.100.${i}`)).status);
        return seen;
      } finally {
        await harness.close();
        await limits.close();
      }
    };
    expect(await statuses(false), 'a client cannot escape its limit by naming other addresses').to.deep.equal([401, 401, 429, 429]);
    expect(await statuses('loopback'), 'behind a trusted proxy each client counts apart').to.deep.equal([401, 401, 401, 401]);
  });

  it('answers an address whose credentials keep failing with 429 before looking any up', async () => {
    const limits = new RateLimits({ redisUrl: REDIS_URL, prefix: testPrefix(), logger: silentLogger(), budgets: budgets({ authentication: { points: 3, seconds: 60 } }) });
    const harness = await startTestApp({ http: { limits } });
    try {
      const { key } = await createApiKey(harness.knex, 'valid', 'operator');
      let lookups = 0;
      harness.knex.on('query', (query: { sql: string }) => void (/api_keys/.test(query.sql) && lookups++));
      for (let i = 0; i < 3; i++) {
        const res = await request(harness.app).get('/api/deals').set('authorization', `Bearer ${generateApiKey().key}`).expect(401);
        expect(res.body.code).to.equal('AUTH.UNAUTHENTICATED');
      }
      expect(lookups).to.equal(3);
      for (let i = 0; i < 20; i++) {
        const res = await request(harness.app).get('/api/deals').set('authorization', `Bearer ${generateApiKey().key}`).expect(429);
        expect(res.body).to.include({ code: 'RATE_LIMITED', limit: 'authentication' });
        expect(Number(res.headers['retry-after'])).to.be.within(1, 60);
      }
      // Until the window ends the address is refused whatever it sends: telling a good key from a bad one takes a lookup.
      await request(harness.app).get('/api/deals').set('authorization', `Bearer ${key}`).expect(429);
      expect(lookups, 'no key looked up once the budget was spent').to.equal(3);
    } finally {
      await harness.close();
      await limits.close();
    }
  });

  describe('while Redis is unreachable', () => {
    let server: PrivateRedis;
    let harness: TestApp;
    let readPositions: ReadPositions;
    let apps: { limits: RateLimits; lines: string[]; app: TestApp['app'] }[];
    /** An app as an API process has it, with its own limits (and their insurance). */
    const appWith = (limits: RateLimits) => createApp({ knex: harness.knex, eventStore: harness.store, logger: silentLogger(), readPositions, limits });

    before(async () => {
      server = await startPrivateRedis();
      harness = await startTestApp();
      readPositions = new ReadPositions(harness.knex, harness.db.url, silentLogger());
      apps = [];
      for (let i = 0; i < 2; i++) {
        const { logger, lines } = recordingLogger();
        const limits = new RateLimits({ redisUrl: server.url, prefix: 'limits-test', logger, budgets: budgets({ query: { points: 3, seconds: 60 } }) });
        apps.push({ limits, lines, app: appWith(limits) });
      }
    });
    after(async () => {
      for (const { limits } of apps) await limits.close();
      await server.stop();
      await readPositions.close();
      await harness.close();
    });

    it('serves every request, counting per process, with one log line when that starts and one when Redis is back', async () => {
      const { key } = await createApiKey(harness.knex, 'reader', 'auditor');
      const [a, b] = apps as [(typeof apps)[0], (typeof apps)[0]];
      const query = (app: (typeof apps)[0]) => request(app.app).get('/api/audit/events').set('authorization', `Bearer ${key}`).then((res) => res.status);
      await eventually(() => a.limits.mode === 'shared' && b.limits.mode === 'shared', 20_000, 'both to reach Redis');

      // Shared: three queries in all, whichever process answers.
      expect([await query(a), await query(b), await query(a), await query(b)]).to.deep.equal([200, 200, 200, 429]);

      await server.stop();
      await eventually(() => a.limits.mode === 'per-process' && b.limits.mode === 'per-process', 20_000, 'both to notice');
      const ready = await request(a.app).get('/health/ready');
      expect(ready.body.checks.rateLimits).to.equal('per process: Redis is unreachable');
      // Per process: three each, and no request fails or waits for Redis.
      const started = Date.now();
      for (const app of [a, b]) expect([await query(app), await query(app), await query(app), await query(app), await query(app)]).to.deep.equal([200, 200, 200, 429, 429]);
      expect(Date.now() - started, 'no request waited for Redis').to.be.below(5000);

      await server.start();
      await eventually(() => a.limits.mode === 'shared' && b.limits.mode === 'shared', 30_000, 'both to be back on Redis');
      expect((await request(a.app).get('/health/ready')).body.checks.rateLimits).to.equal('ok');
      expect([await query(a), await query(b), await query(a), await query(b)]).to.deep.equal([200, 200, 200, 429]);
      for (const { lines } of [a, b]) {
        expect(lines).to.deep.equal(['rate limits are counted per process: Redis is unreachable', 'rate limits are shared again: Redis is back']);
      }
    });

    it('counts per process while Redis is connected but does not answer, and shares again once it does', async () => {
      const { key } = await createApiKey(harness.knex, 'hung-reader', 'auditor');
      const [a] = apps as [(typeof apps)[0]];
      const query = () => request(a.app).get('/api/audit/events').set('authorization', `Bearer ${key}`).then((res) => res.status);
      await eventually(() => a.limits.mode === 'shared', 30_000, 'Redis to be there');
      const before = a.lines.length;
      server.pause();
      try {
        const started = Date.now();
        expect([await query(), await query(), await query(), await query()]).to.deep.equal([200, 200, 200, 429]);
        expect(Date.now() - started, 'one command timeout, then the insurance answers at once').to.be.below(500 + 3000);
        expect(a.limits.mode).to.equal('per-process');
      } finally {
        server.resume();
      }
      // Left alone a while (retryMs), then asked again by the next request.
      await eventually(async () => (await query()) > 0 && a.limits.mode === 'shared', 20_000, 'Redis to answer again');
      expect(a.lines.slice(before)).to.deep.equal(['rate limits are counted per process: Redis is unreachable', 'rate limits are shared again: Redis is back']);
    });

    it('answers at once when Redis was never there, saying so once', async () => {
      const { logger, lines } = recordingLogger();
      const closed = await freePort();
      const limits = new RateLimits({ redisUrl: `redis://127.0.0.1:${closed}`, prefix: 'never', logger, budgets: budgets({ address: { points: 5, seconds: 60 } }) });
      try {
        const app = appWith(limits);
        const statuses: number[] = [];
        for (let i = 0; i < 7; i++) statuses.push((await request(app).get('/api/deals')).status);
        expect(statuses).to.deep.equal([401, 401, 401, 401, 401, 429, 429]);
        expect(lines).to.deep.equal(['rate limits are counted per process: Redis is unreachable']);
      } finally {
        await limits.close();
      }
    });
  });

  describe('across two API processes sharing Redis', () => {
    let db: TestDatabase;
    let key: string;
    let prefix: string;
    const processes: DealstreamProcess[] = [];
    const bases: string[] = [];

    before(async () => {
      db = await createTestDatabase();
      prefix = testPrefix();
      const knex = createKnex(db.url, 1);
      try {
        key = (await createApiKey(knex, 'reader', 'auditor')).key;
      } finally {
        await knex.destroy();
      }
      const env = {
        DATABASE_URL: db.url,
        QUEUE_PREFIX: prefix,
        PORT: '0',
        RATE_LIMIT_ADDRESS: '1000/60',
        RATE_LIMIT_AUTH_FAILURES: '3/60',
        RATE_LIMIT_QUERY: '10/60',
      };
      for (let i = 0; i < 2; i++) processes.push(spawnDealstream(['api'], env));
      for (const run of processes) {
        await eventually(() => /api listening/.test(run.stderr()) || run.child.exitCode !== null, 60_000, 'the API to listen');
        const listening = run.stderr().split('\n').find((line) => line.includes('"api listening"'));
        expect(listening, run.stderr()).to.be.a('string');
        bases.push(`http://127.0.0.1:${JSON.parse(listening!).port}`);
      }
    });
    after(async () => {
      for (const run of processes) {
        run.child.kill('SIGTERM');
        await run.exit;
      }
      await db.drop();
    });

    it('refuses a burst over the limit with 429s, Retry-After and RateLimit headers, whichever process answers', async () => {
      const answers: { status: number; headers: Headers; body: { code?: string; detail?: string } }[] = [];
      for (let i = 0; i < 30; i++) {
        const res = await fetch(`${bases[i % 2]}/api/audit/events`, { headers: { authorization: `Bearer ${key}` } });
        answers.push({ status: res.status, headers: res.headers, body: (await res.json()) as { code?: string } });
      }
      expect(answers.map((answer) => answer.status)).to.deep.equal([...Array<number>(10).fill(200), ...Array<number>(20).fill(429)]);
      answers.slice(0, 10).forEach((answer, i) => {
        expect(answer.headers.get('ratelimit-policy')).to.equal('10;w=60');
        expect(answer.headers.get('ratelimit')).to.match(new RegExp(`^limit=10, remaining=${9 - i}, reset=\\d+$`));
      });
      for (const answer of answers.slice(10)) {
        expect(answer.headers.get('content-type')).to.equal('application/problem+json; charset=utf-8');
        expect(answer.body.code).to.equal('RATE_LIMITED');
        expect(answer.body.detail).to.match(/query limit/);
        expect(Number(answer.headers.get('retry-after'))).to.be.within(1, 60);
        expect(answer.headers.get('ratelimit')).to.match(/^limit=10, remaining=0, reset=\d+$/);
      }
      const redis = new Redis(REDIS_URL);
      try {
        expect(await redis.keys(`${prefix}:ratelimit:query:*`)).to.deep.equal([`${prefix}:ratelimit:query:reader`]);
      } finally {
        redis.disconnect();
      }
    });

    it('counts failed authentications of an address in every process', async () => {
      const statusOf = async (base: string) => (await fetch(`${base}/api/deals`, { headers: { authorization: `Bearer ${generateApiKey().key}` } })).status;
      expect([await statusOf(bases[0]!), await statusOf(bases[1]!), await statusOf(bases[0]!)]).to.deep.equal([401, 401, 401]);
      expect([await statusOf(bases[1]!), await statusOf(bases[0]!)]).to.deep.equal([429, 429]);
    });
  });
});
