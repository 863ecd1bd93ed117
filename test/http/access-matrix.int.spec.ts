import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { ROLES, type Role } from '../../src/auth/principal.js';
import { QUEUE_DASHBOARD_PATH } from '../../src/http/app.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { dropTestPrefixes } from '../support/workers.js';
import { patient } from '../support/async.js';

interface Operation {
  method: string;
  path: string;
  roles: readonly Role[] | 'every';
}

/**
 * Every role against every operation the OpenAPI document describes (x-roles says who may call it),
 * plus the pages and documents outside /api: a role not named is 403, a named one gets past the role
 * check (whatever its request then earns), and nobody without a credential gets anything but 401.
 */
describe('access: every role on every route', function () {
  this.timeout(patient(120_000));
  let harness: TestApp;
  let server: Server;
  let base: string;
  let keys: Record<string, string>;
  let operations: Operation[];

  before(async () => {
    harness = await startTestApp({ queues: true });
    keys = await createKeys(harness.knex, Object.fromEntries(ROLES.map((role) => [role, role])) as Record<string, Role>);
    server = harness.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const document = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-roles': Operation['roles'] }>> };
    // The API's operations; the pages and documents outside /api are checked on their own below.
    operations = Object.entries(document.paths).filter(([path]) => path.startsWith('/api/')).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ method, path, roles: operation['x-roles'] })),
    );
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await harness.close();
    await dropTestPrefixes();
  });

  /** The status only: an endless answer (the feed, an export) is not read. */
  async function statusOf(method: string, url: string, authorization?: string): Promise<number> {
    const done = new AbortController();
    const res = await fetch(url, {
      method: method.toUpperCase(),
      signal: done.signal,
      headers: { ...(authorization ? { authorization } : {}), ...(method === 'get' || method === 'delete' ? {} : { 'content-type': 'application/json' }) },
      ...(method === 'get' || method === 'delete' ? {} : { body: '{}' }),
    });
    done.abort();
    return res.status;
  }
  const urlOf = (path: string) => base + path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'streamId' ? `deal-${randomUUID()}` : name === 'type' ? 'DealCreated' : randomUUID()));

  it('describes every operation with the roles that may call it', () => {
    expect(operations.length).to.be.greaterThan(40);
    for (const operation of operations) expect(operation.roles, `${operation.method} ${operation.path}`).to.satisfy((roles: unknown) => roles === 'every' || Array.isArray(roles));
  });

  it('refuses each role every operation it is not named for (403), lets it through those it is, and everyone without a credential (401)', async () => {
    const wrong: string[] = [];
    for (const { method, path, roles } of operations) {
      const url = urlOf(path);
      const anonymous = await statusOf(method, url);
      if (anonymous !== 401) wrong.push(`${method} ${path} without a credential: ${anonymous}`);
      for (const role of ROLES) {
        const status = await statusOf(method, url, `Bearer ${keys[role]}`);
        const allowed = roles === 'every' || roles.includes(role);
        if (allowed ? status === 401 || status === 403 : status !== 403) wrong.push(`${method} ${path} as ${role}: ${status}`);
      }
    }
    expect(wrong).to.deep.equal([]);
  });

  it('serves health, the OpenAPI document and its browser, and the public signing keys to anyone', async () => {
    for (const path of ['/health', '/health/live', '/health/ready', '/openapi.json', '/docs/', '/.well-known/jwks.json']) expect(await statusOf('get', base + path), path).to.equal(200);
  });

  it('opens the queue dashboard to admins only (HTTP Basic with the key as the password)', async () => {
    const basic = (key: string) => `Basic ${Buffer.from(`any:${key}`).toString('base64')}`;
    expect(await statusOf('get', `${base}${QUEUE_DASHBOARD_PATH}`)).to.equal(401);
    for (const role of ROLES) expect(await statusOf('get', `${base}${QUEUE_DASHBOARD_PATH}`, basic(keys[role]!)), role).to.equal(role === 'admin' ? 200 : 403);
  });
});
