import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { apiDescription } from '../../src/http/app.js';
import { takeViolations } from '../support/contract/answers.js';
import { ResponseValidator, describeViolation, type Exchange } from '../support/contract/response-validator.js';

const POSITION = '0000000000000001000000000000000a';

/** The response validator every HTTP test runs under (test/support/contract): it must catch a drift. */
describe('the contract check of every answer', () => {
  const validator = new ResponseValidator(JSON.parse(JSON.stringify(apiDescription())));
  const json = (method: string, url: string, status: number, body: unknown, headers: Record<string, string> = {}, type = 'application/json'): Exchange => ({
    method,
    url,
    requestHeaders: {},
    status,
    headers: { 'content-type': `${type}; charset=utf-8`, ...headers },
    body: Buffer.from(JSON.stringify(body)),
  });
  const created = (body: unknown) => json('POST', '/api/deals', 201, body, { etag: '"0"', location: '/api/deals/x' });

  it('passes an answer as described', () => {
    expect(validator.check(created({ id: '0b7e7a3c-5a1e-4c1e-9d1e-2f6a1c3b4d5e', revision: '0', position: POSITION }))).to.equal(undefined);
    expect(validator.check(json('GET', '/health/ready?verbose=1', 503, { status: 'unavailable', checks: { postgres: 'unavailable: down', eventStore: 'ok' } }))).to.equal(undefined);
  });

  it('names the operation, the status and each schema error of a body that departs from it', () => {
    const violation = validator.check(created({ revision: 0, position: POSITION, extra: true }));
    expect(violation?.operation).to.equal('createDeal (POST /api/deals)');
    expect(violation?.problems).to.have.members([
      "(body) must have required property 'id'",
      '/revision must be string (is 0)',
      '(body) must NOT have additional properties: extra',
    ]);
    expect(describeViolation(violation!)).to.include('POST /api/deals → 201').and.include('createDeal');
  });

  it('refuses a status, a content type or a header the description does not list for the operation', () => {
    expect(validator.check(json('GET', '/api/deals', 418, { type: '/problems/teapot', title: 'Teapot', status: 418, code: 'TEA' }, {}, 'application/problem+json'))?.problems).to.deep.equal([
      'status 418 is not described (it lists 200, 400, 401, 429, 503)',
    ]);
    expect(validator.check({ ...json('GET', '/health/live', 200, {}), headers: { 'content-type': 'text/plain' } })?.problems).to.deep.equal([
      'content type text/plain is not described (it lists application/json)',
    ]);
    const unauthenticated = json('GET', '/api/deals', 401, { type: '/problems/unauthenticated', title: 'Authentication required', status: 401, code: 'AUTH.UNAUTHENTICATED', detail: 'Send Authorization: Bearer <credential>' }, {}, 'application/problem+json');
    expect(validator.check(unauthenticated)?.problems).to.deep.equal(['required header WWW-Authenticate is missing']);
    expect(validator.check({ ...unauthenticated, headers: { ...unauthenticated.headers, 'www-authenticate': 'Bearer realm="dealstream"' } })).to.equal(undefined);
  });

  it('refuses any answer but a refusal to a route the description does not name, and a problem without its code', () => {
    expect(validator.check(json('GET', '/api/secret-route', 200, {}))?.problems).to.deep.equal(['no operation is described for GET /api/secret-route, yet it answered 200']);
    const notFound = json('GET', '/nothing', 404, { type: '/problems/not-found', title: 'Not found', status: 404, detail: 'No route for GET /nothing' }, {}, 'application/problem+json');
    expect(validator.check(notFound)?.problems).to.deep.equal(["(body) must have required property 'code'"]);
  });

  it('checks the answers of any app made with a description, as they are sent', async () => {
    const app = express();
    app.locals.openApi = apiDescription();
    app.get('/health/live', (_req, res) => {
      res.json({ status: 'dead' });
    });
    await request(app).get('/health/live').expect(200);
    const [violation, ...more] = takeViolations(); // taken: this test's drift is on purpose
    expect(more).to.deep.equal([]);
    expect(violation?.operation).to.equal('checkLiveness (GET /health/live)');
    expect(violation?.problems).to.deep.equal(['/status must be equal to constant (is "dead")']);
    // An app without a description (a webhook receiver, an identity provider) is not checked.
    const other = express().get('/health/live', (_req, res) => void res.status(418).send('hi'));
    await request(other).get('/health/live').expect(418);
    expect(takeViolations()).to.deep.equal([]);
  });

  it('fails the test during which an answer departed from the description, and only that one', async function () {
    this.timeout(60_000);
    const run = await promisify(execFile)('npx', ['--no', '--', 'mocha', '--reporter', 'dot', 'test/support/contract/drift.fixture.ts']).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code: number; stdout: string }) => error,
    );
    expect(run.code).to.equal(1);
    expect(run.stdout).to.include('1 passing').and.include('1 failing');
    expect(run.stdout).to.include('answers a liveness probe with a body it does not describe').and.include('1 answer departed from the OpenAPI description');
    expect(run.stdout).to.include('checkLiveness (GET /health/live)').and.include('/status must be equal to constant');
  });
});
