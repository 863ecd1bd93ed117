import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { ConcurrencyError, ContentionError, ForbiddenError, IllegalStateError, NotFoundError, ValidationError } from '../../src/domain/shared/errors.js';
import { InvalidInputError } from '../../src/eventstore/errors.js';
import { PROBLEM_CATALOG, describeCode } from '../../src/http/problem-catalog.js';
import { domainProblem, HttpProblem, problemHandler } from '../../src/http/problem.js';
import { silentLogger } from '../../src/platform/logger.js';
import { expectCatalogued, expectOccurrenceFree } from '../support/problems.js';

/** The status each DomainError subclass answers with. */
const SUBCLASS_STATUS: Record<string, number> = { IllegalStateError: 409, NotFoundError: 404, ValidationError: 400, ForbiddenError: 403 };

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name));
}

/** Every domain code raised in src/, with the status its error class gives it. */
async function raisedDomainCodes(): Promise<{ code: string; status: number; where: string }[]> {
  const raised: { code: string; status: number; where: string }[] = [];
  for (const file of await sourceFiles(path.resolve('src'))) {
    const text = await readFile(file, 'utf8');
    for (const [, subclass, code] of text.matchAll(/new (\w+Error)\(\s*'([A-Z][A-Z_.]*)'/g)) {
      if (subclass! in SUBCLASS_STATUS) raised.push({ code: code!, status: SUBCLASS_STATUS[subclass!]!, where: path.relative('.', file) });
    }
    for (const [, code, status] of text.matchAll(/super\(\s*'([A-Z][A-Z_.]*)',\s*(\d{3})/g)) raised.push({ code: code!, status: Number(status), where: path.relative('.', file) });
  }
  return raised;
}

describe('Problem catalogue', () => {
  it('gives every code a title free of occurrences, a status and a type of its own', () => {
    expect(PROBLEM_CATALOG.length).to.be.greaterThan(20);
    for (const { code, title, status, type } of PROBLEM_CATALOG) {
      expect(code).to.match(/^[A-Z][A-Z_]*(\.[A-Z][A-Z_]*)?$/);
      expectOccurrenceFree(title, code);
      expect(status, code).to.be.within(400, 599);
      expect(type, code).to.match(/^\/problems\/[a-z-]+$/);
      expect(describeCode(code), code).to.deep.equal({ title, type });
    }
    const types = PROBLEM_CATALOG.map((e) => e.type);
    expect(new Set(types).size, 'one type per code').to.equal(types.length);
  });

  it('lists every code the domain raises, with the status its error answers', async () => {
    const raised = await raisedDomainCodes();
    expect(raised.length).to.be.greaterThan(30);
    for (const { code, status, where } of raised) {
      const entry = PROBLEM_CATALOG.find((e) => e.code === code);
      expect(entry, `${code} (raised in ${where}) needs a catalogue entry in src/http/problem-catalog.ts`).to.not.equal(undefined);
      expect(entry!.status, `${code} in ${where}`).to.equal(status);
    }
  });

  it("titles a domain error by its code and keeps what it saw in the detail", () => {
    const stale = [domainProblem(new ConcurrencyError(3n, 5n)), domainProblem(new ConcurrencyError('no_stream', 12n))];
    for (const problem of stale) expectCatalogued(problem);
    expect(stale[0]!.title).to.equal(stale[1]!.title);
    expect(stale[0]!.detail).to.equal('Expected revision 3, but the stream is at 5');

    const unchanged = domainProblem(new IllegalStateError('DEAL.STAGE_UNCHANGED', 'The deal is already in screening'));
    expect(expectCatalogued(unchanged).status).to.equal(409);
    expect(unchanged.detail).to.equal('The deal is already in screening');

    const missing = domainProblem(new ValidationError('DEAL.REASON_REQUIRED', 'A deal is lost with a reason', 'reason'));
    expectCatalogued(missing);
    expect(missing).to.deep.include({ detail: 'reason: A deal is lost with a reason', errors: [{ field: 'reason', message: 'A deal is lost with a reason' }] });

    for (const error of [new NotFoundError('DEAL.NOT_FOUND', 'No such deal'), new ForbiddenError('ACTION.CANCEL_FORBIDDEN', 'Only the proposer'), new ContentionError('deal-1 changed under 5 attempts')]) {
      expectCatalogued(domainProblem(error));
    }
  });

  it('titles a code the catalogue does not list yet from the code itself, never from the occurrence', () => {
    const problem = domainProblem(new IllegalStateError('ACTION.KIND_UNKNOWN', 'No action kind is named wire_transfer_2'));
    expect(problem).to.deep.include({ code: 'ACTION.KIND_UNKNOWN', title: 'Action kind unknown', type: '/problems/action-kind-unknown', status: 409, detail: 'No action kind is named wire_transfer_2' });
  });

  it('answers every kind of error the handler meets with a catalogued problem', async () => {
    const app = express();
    const throwing: Record<string, () => unknown> = {
      http: () => { throw new HttpProblem('STREAM.NOT_FOUND', 'deal-1 has no events'); },
      domain: () => { throw new NotFoundError('DEAL.NOT_FOUND', 'No such deal'); },
      input: () => { throw new InvalidInputError('events[0]', 'is larger than 1048576 bytes when serialized'); },
      outage: () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }); },
      bug: () => { throw new TypeError('x is undefined'); },
    };
    for (const [name, fail] of Object.entries(throwing)) app.get(`/${name}`, () => fail());
    app.post('/json', express.json({ limit: '10b' }), (_req, res) => res.json({}));
    app.use(problemHandler(silentLogger()));
    const answers = {
      http: await request(app).get('/http'),
      domain: await request(app).get('/domain'),
      input: await request(app).get('/input'),
      outage: await request(app).get('/outage'),
      bug: await request(app).get('/bug'),
      tooLarge: await request(app).post('/json').set('content-type', 'application/json').send('{"a":"0123456789"}'),
      malformed: await request(app).post('/json').set('content-type', 'application/json').send('{'),
      charset: await request(app).post('/json').set('content-type', 'application/json; charset=latin1').send('{}'),
    };
    const codes = Object.fromEntries(Object.entries(answers).map(([name, res]) => {
      expect(res.type, name).to.equal('application/problem+json');
      expect(res.status, name).to.equal(expectCatalogued(res.body, name).status);
      return [name, res.body.code];
    }));
    expect(codes).to.deep.equal({
      http: 'STREAM.NOT_FOUND', domain: 'DEAL.NOT_FOUND', input: 'REQUEST.INVALID', outage: 'DATABASE.UNAVAILABLE', bug: 'INTERNAL_ERROR',
      tooLarge: 'REQUEST.TOO_LARGE', malformed: 'REQUEST.MALFORMED', charset: 'REQUEST.UNSUPPORTED_MEDIA_TYPE',
    });
  });
});
