import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import request from 'supertest';
import { QUEUE_DASHBOARD_PATH } from '../../src/http/app.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { spawnDealstream, type DealstreamProcess } from '../support/processes.js';
import { expectCatalogued } from '../support/problems.js';
import { dropTestPrefixes, testPrefix } from '../support/workers.js';

const LISTED = 'https://app.example.com';
const basic = (key: string) => `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`;

describe('HTTP hardening', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let server: http.Server;
  let base: string;
  let keys: Record<string, string>;

  before(async () => {
    harness = await startTestApp({ queues: true, http: { corsOrigins: [LISTED] } });
    keys = await createKeys(harness.knex, { ops: 'operator', root: 'admin', int: 'integration' });
    server = harness.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await harness.close();
    await dropTestPrefixes();
  });

  describe('headers', () => {
    const pages: [string, string, () => Record<string, string>][] = [
      ['an API answer', '/api/deals', () => ({ authorization: `Bearer ${keys.ops}` })],
      ['an API refusal', '/api/deals', () => ({})],
      ['an unknown route', '/nothing', () => ({})],
      ['health', '/health/ready', () => ({})],
      ['the OpenAPI browser', '/docs/', () => ({})],
      ['its script', '/docs/swagger-ui-init.js', () => ({})],
      ['the queue dashboard', `${QUEUE_DASHBOARD_PATH}/`, () => ({ authorization: basic(keys.root!) })],
      ['its sign-in', `${QUEUE_DASHBOARD_PATH}/`, () => ({})],
      ['its API', `${QUEUE_DASHBOARD_PATH}/api/queues`, () => ({ authorization: basic(keys.root!) })],
    ];
    for (const [what, path, headers] of pages) {
      it(`sends nosniff, frame protection and a CSP, and no X-Powered-By, on ${what}`, async () => {
        const res = await request(base).get(path).set(headers());
        expect(res.status, what).to.be.below(500);
        expect(res.headers).to.include({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' });
        expect(res.headers['content-security-policy']).to.include("frame-ancestors 'none'");
        expect(res.headers).to.not.have.property('x-powered-by');
      });
    }

    it('keeps API answers from loading anything: default-src none', async () => {
      for (const res of [await request(base).get('/api/deals').set('authorization', `Bearer ${keys.ops}`).expect(200), await request(base).get('/api/deals').expect(401)]) {
        expect(res.headers['content-security-policy']).to.equal("default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'");
      }
    });

    it('lets the OpenAPI browser and the dashboard load their own scripts and nothing from elsewhere', async () => {
      const docs = (await request(base).get('/docs/').expect(200)).headers['content-security-policy'];
      expect(docs).to.include("default-src 'self'").and.include("script-src 'self';").and.not.include('unsafe-eval');
      const dashboard = (await request(base).get(`${QUEUE_DASHBOARD_PATH}/`).set('authorization', basic(keys.root!)).expect(200)).headers['content-security-policy'];
      expect(dashboard).to.include("script-src 'self';");
    });

    it('answers /api and /health with Cache-Control: no-store, the feed with no-cache', async () => {
      expect((await request(base).get('/api/deals').set('authorization', `Bearer ${keys.ops}`)).headers['cache-control']).to.equal('no-store');
      expect((await request(base).get('/api/deals')).headers['cache-control']).to.equal('no-store');
      expect((await request(base).get('/health')).headers['cache-control']).to.equal('no-store');
      const feed = http.get(`${base}/api/integrations/feed`, { headers: { authorization: `Bearer ${keys.int}` } });
      const [res] = (await once(feed, 'response')) as [http.IncomingMessage];
      feed.destroy();
      expect(res.headers['cache-control']).to.equal('no-cache');
    });
  });

  describe('CORS', () => {
    it('lets only a listed origin read API answers', async () => {
      const listed = await request(base).get('/api/deals').set({ origin: LISTED, authorization: `Bearer ${keys.ops}` }).expect(200);
      expect(listed.headers['access-control-allow-origin']).to.equal(LISTED);
      expect(listed.headers['access-control-expose-headers']).to.include('RateLimit');
      const other = await request(base).get('/api/deals').set({ origin: 'https://evil.example', authorization: `Bearer ${keys.ops}` }).expect(200);
      expect(other.headers).to.not.have.property('access-control-allow-origin');
    });

    it('answers a listed origin\'s preflight, and no other\'s', async () => {
      const preflight = (origin: string) => request(base).options('/api/deals').set({ origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' });
      const listed = await preflight(LISTED).expect(204);
      expect(listed.headers['access-control-allow-origin']).to.equal(LISTED);
      expect(listed.headers['access-control-allow-headers']).to.include('Authorization').and.include('Idempotency-Key');
      expect(listed.headers).to.not.have.property('access-control-allow-credentials');
      expect((await preflight('https://evil.example')).headers).to.not.have.property('access-control-allow-origin');
    });

    it('is off without CORS_ORIGINS', async () => {
      const plain = await startTestApp();
      try {
        const { ops } = await createKeys(plain.knex, { ops: 'operator' });
        const res = await request(plain.app).get('/api/deals').set({ origin: LISTED, authorization: `Bearer ${ops}` }).expect(200);
        expect(res.headers).to.not.have.property('access-control-allow-origin');
      } finally {
        await plain.close();
      }
    });
  });

  describe('the queue dashboard', () => {
    const add = `${QUEUE_DASHBOARD_PATH}/api/queues/webhooks/add`;
    const jobs = () => harness.queues!.webhooks.count();

    it('refuses cross-site requests that would change anything, and adds no job', async () => {
      const admin = { authorization: basic(keys.root!) };
      const body = JSON.stringify({ name: 'planted', data: {} });
      const refused = [
        // The measured attack: a page elsewhere posts text/plain, which needs no preflight.
        { ...admin, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' },
        { ...admin, origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
        { ...admin, origin: 'null', 'content-type': 'application/json' },
        { ...admin, 'sec-fetch-site': 'same-site', origin: base, 'content-type': 'application/json' },
        { ...admin, 'content-type': 'application/json' }, // neither header: not from the dashboard's page
        { ...admin, 'sec-fetch-site': 'same-origin', origin: base, 'content-type': 'text/plain' }, // same origin, but not JSON
        { ...admin, 'sec-fetch-site': 'same-origin', origin: base, 'content-type': 'multipart/form-data; boundary=x' },
      ];
      for (const headers of refused) {
        const res = await request(base).post(add).set(headers).send(body);
        expect(res.status, JSON.stringify(headers)).to.equal(403);
        expect(res.type).to.equal('application/problem+json');
        expect(res.body.code).to.equal('CROSS_SITE_REQUEST');
      }
      expect(await jobs()).to.equal(0);
    });

    it('still takes what its own page sends: JSON, and body-less changes', async () => {
      const own = { authorization: basic(keys.root!), origin: base, 'sec-fetch-site': 'same-origin' };
      await request(base).post(add).set({ ...own, 'content-type': 'application/json' }).send({ name: 'by-hand', data: {} }).expect(200);
      expect(await jobs()).to.equal(1);
      await request(base).put(`${QUEUE_DASHBOARD_PATH}/api/queues/webhooks/pause`).set(own).expect(200);
      expect(await harness.queues!.webhooks.isPaused()).to.equal(true);
      // Browsers without Sec-Fetch-Site: Origin alone.
      await request(base).put(`${QUEUE_DASHBOARD_PATH}/api/queues/webhooks/resume`).set({ authorization: own.authorization, origin: base }).expect(200);
      expect(await harness.queues!.webhooks.isPaused()).to.equal(false);
      await harness.queues!.webhooks.obliterate({ force: true });
    });
  });

  describe('slow clients (a real API process)', () => {
    let run: DealstreamProcess;
    let port: number;

    before(async () => {
      run = spawnDealstream(['api'], {
        DATABASE_URL: harness.db.url,
        QUEUE_PREFIX: testPrefix(),
        PORT: '0',
        HTTP_REQUEST_TIMEOUT_MS: '2000',
        HTTP_HEADERS_TIMEOUT_MS: '1000',
        HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
      });
      await eventually(() => /api listening/.test(run.stderr()) || run.child.exitCode !== null, 60_000, 'the API to listen');
      const listening = run.stderr().split('\n').find((line) => line.includes('"api listening"'));
      expect(listening, run.stderr()).to.be.a('string');
      port = JSON.parse(listening!).port;
    });
    after(async () => {
      run.child.kill('SIGTERM');
      expect(await run.exit, run.stderr()).to.equal(0);
    });

    /** A raw connection that sends `head` at once, then one byte of `drip` a second; resolves with what came back and when it closed. */
    async function dribble(head: string, drip: string): Promise<{ received: string; ms: number }> {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      const started = Date.now();
      let received = '';
      socket.on('data', (chunk) => (received += chunk));
      socket.on('error', () => undefined);
      socket.write(head);
      let sent = 0;
      // Stop dripping once the server has answered: a byte written after it closed draws a reset.
      const dripping = setInterval(() => received === '' && socket.writable && sent < drip.length && socket.write(drip[sent++]!), 1000);
      // Not events.once: it rejects on 'error', and a reset after the answer is not a failure here.
      const closed = new Promise((resolve) => socket.once('close', resolve));
      try {
        await closed;
      } finally {
        clearInterval(dripping);
      }
      return { received, ms: Date.now() - started };
    }

    /** Node's 408, answered as problem+json like every other refusal. */
    function expectTimeoutProblem(received: string): void {
      const [head, body] = received.split('\r\n\r\n') as [string, string];
      expect(head).to.match(/\r\ncontent-type: application\/problem\+json\r\n/i);
      expect(expectCatalogued(JSON.parse(body)).code).to.equal('REQUEST.TIMEOUT');
    }

    it('cuts a body sent at one byte a second with 408 within the request timeout', async () => {
      const { received, ms } = await dribble('POST /health HTTP/1.1\r\nHost: dealstream\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n', `{"a":"${'x'.repeat(90)}"}`);
      expect(received).to.match(/^HTTP\/1\.1 408 /);
      expectTimeoutProblem(received);
      // Cut after the 2 s request timeout, long before the 100 s the body would take (slack for a loaded machine).
      expect(ms).to.be.within(1900, 30_000);
    });

    it('cuts headers sent at one byte a second with 408 within the headers timeout', async () => {
      const { received, ms } = await dribble('GET /health HTTP/1.1\r\nHost: dealstream\r\n', 'X-Slow: aaaaaaaaaaaaaaa\r\n\r\n');
      expect(received).to.match(/^HTTP\/1\.1 408 /);
      expectTimeoutProblem(received);
      expect(ms).to.be.within(900, 20_000);
    });

    it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      let received = '';
      socket.on('data', (chunk) => (received += chunk));
      socket.write('GET /health HTTP/1.1\r\nHost: dealstream\r\n\r\n');
      await eventually(() => received.includes('{"status":"ok"}'), 10_000, 'the answer');
      const answered = Date.now();
      expect(received).to.match(/keep-alive/i);
      await new Promise((resolve) => socket.once('close', resolve));
      expect(Date.now() - answered).to.be.within(800, 20_000);
    });
  });
});
