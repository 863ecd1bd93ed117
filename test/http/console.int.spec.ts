import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app.js';
import { expectCatalogued } from '../support/problems.js';

/** /console: the built console's files with their caching headers and CSP, or 503 before a build. */
describe('the console at /console', () => {
  let built: TestApp;
  let unbuilt: TestApp;
  let dir: string;

  before(async () => {
    // A stand-in for `vite build`'s output: the server only serves files.
    dir = mkdtempSync(path.join(tmpdir(), 'dealstream-console-'));
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>console</title><script type="module" src="/console/assets/index-abc123.js"></script>');
    writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), 'console.log("hi");');
    built = await startTestApp({ http: { consoleDir: dir } });
    unbuilt = await startTestApp({ http: { consoleDir: path.join(dir, 'missing') } });
  });
  after(async () => {
    await built?.close();
    await unbuilt?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const strictPolicy = (csp: string) => {
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'"])
      expect(csp).to.include(directive);
    expect(csp).not.to.include('unsafe-inline');
  };

  it('serves the page, revalidated each time, under a strict CSP', async () => {
    for (const url of ['/console', '/console/']) {
      const res = await request(built.app).get(url);
      expect(res.status, url).to.equal(200);
      expect(res.type).to.equal('text/html');
      expect(res.headers['cache-control']).to.equal('no-cache');
      strictPolicy(res.headers['content-security-policy'] as string);
      expect(res.text).to.include('index-abc123.js');
    }
  });

  it('answers a page of the console (routed in the browser) with the same page', async () => {
    const res = await request(built.app).get('/console/inbox');
    expect(res.status).to.equal(200);
    expect(res.headers['cache-control']).to.equal('no-cache');
    expect(res.text).to.include('index-abc123.js');
  });

  it('keeps hashed assets a year, and refuses a missing one with a problem, not the page', async () => {
    const asset = await request(built.app).get('/console/assets/index-abc123.js');
    expect(asset.status).to.equal(200);
    expect(asset.headers['cache-control']).to.equal('public, max-age=31536000, immutable');
    expect(asset.type).to.match(/javascript/);
    const missing = await request(built.app).get('/console/assets/index-gone.js');
    expect(missing.status).to.equal(404);
    expect(missing.type).to.equal('application/problem+json');
    expectCatalogued(missing.body);
  });

  it('answers 503 CONSOLE.NOT_BUILT, saying to run npm run build, when there is no build', async () => {
    for (const url of ['/console', '/console/inbox', '/console/assets/index-abc123.js']) {
      const res = await request(unbuilt.app).get(url);
      expect(res.status, url).to.equal(503);
      expect(res.type).to.equal('application/problem+json');
      expect(res.body.code).to.equal('CONSOLE.NOT_BUILT');
      expect(res.body.detail).to.include('npm run build');
      expectCatalogued(res.body);
    }
  });
});
