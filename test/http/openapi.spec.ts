import { expect } from 'chai';
import { apiDescription } from '../../src/http/app.js';
import { TAGS } from '../../src/http/openapi-components.js';
import { OPERATION_IDS, operationIdOf } from '../../src/http/openapi.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The description the app serves, as a client developer reads it (the app test checks it is the one served). */
describe('OpenAPI description', () => {
  const document = JSON.parse(JSON.stringify(apiDescription())) as Json;
  const operations = Object.entries(document.paths as Json).flatMap(([path, item]) => Object.entries(item as Json).map(([method, operation]) => ({ path, method, operation: operation as Json })));
  /** A response with its `$ref` into components.responses followed. */
  const response = (operation: Json, status: number) => {
    const found = operation.responses[String(status)] as Json;
    return found.$ref ? document.components.responses[String(found.$ref).split('/').pop()!] : found;
  };
  const at = (path: string, method: string) => document.paths[path][method] as Json;

  it('is OpenAPI 3.1 with a server, a license and every tag described', () => {
    expect(document.openapi).to.equal('3.1.0');
    expect(document.servers).to.deep.equal([{ url: '/', description: 'The server that serves this description' }]);
    expect(document.info.license.identifier).to.equal('LicenseRef-UNLICENSED');
    expect(document.tags.map((tag: Json) => tag.name)).to.deep.equal(Object.keys(TAGS));
  });

  it('gives every operation a unique camelCase id and one defined tag', () => {
    const ids = operations.map(({ operation }) => operation.operationId as string);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const { path, method, operation } of operations) {
      expect(operation.operationId, `${method} ${path}`).to.match(/^[a-z][a-zA-Z]+$/);
      expect(operation.tags, `${method} ${path}`).to.have.length(1).and.satisfy(([tag]: string[]) => tag! in TAGS);
    }
    expect(at('/api/actions/{id}/approve', 'post')).to.include({ operationId: 'approveAction' }).and.have.deep.property('tags', ['approvals']);
    expect(at('/api/deals/{id}', 'get').operationId).to.equal('getDeal');
    expect(at('/api/agents/{agentId}/runs/{id}/complete', 'post').operationId).to.equal('completeAgentRun');
  });

  it('derives ids from method and path, except where one is given', () => {
    expect(operationIdOf('get', '/deals')).to.equal('listDeals');
    expect(operationIdOf('post', '/deals')).to.equal('createDeal');
    expect(operationIdOf('patch', '/deals/:id')).to.equal('updateDeal');
    expect(operationIdOf('delete', '/integrations/webhooks/:id')).to.equal('deleteWebhook');
    expect(operationIdOf('post', '/actions/:id/reject')).to.equal('rejectAction');
    expect(operationIdOf('get', '/action-kinds')).to.equal('listActionKinds');
    expect(operationIdOf('get', '/deals/:id', 'readDeal')).to.equal('readDeal');
  });

  it('names in OPERATION_IDS only routes that exist', () => {
    const routes = new Set(operations.filter(({ path }) => path.startsWith('/api/')).map(({ path, method }) => `${method} ${path.slice('/api'.length).replace(/\{(\w+)\}/g, ':$1')}`));
    expect(Object.keys(OPERATION_IDS).filter((key) => !routes.has(key))).to.deep.equal([]);
  });

  it("describes a command's answers: 201 { id, revision, position } with Location for a creation, every refusal it may meet", () => {
    const create = at('/api/deals', 'post');
    expect(create.requestBody.content['application/json'].schema.required).to.include.members(['name', 'company', 'amount']);
    expect(create.responses).to.have.keys('201', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '503');
    expect(response(create, 201).content['application/json'].schema).to.deep.equal({ $ref: '#/components/schemas/Created' });
    expect(document.components.schemas.Created.required).to.deep.equal(['id', 'revision', 'position']);
    expect(response(create, 201).headers.Location.required).to.equal(true);
    expect(response(create, 401).headers['WWW-Authenticate'].required).to.equal(true);
    expect(response(create, 429).headers['Retry-After'].required).to.equal(true);
    expect(response(create, 503).headers).to.have.key('Retry-After');
    const approve = at('/api/actions/{id}/approve', 'post');
    expect(approve.description).to.include('approver');
    expect(response(approve, 200).content['application/json'].schema).to.deep.equal({ $ref: '#/components/schemas/CommandResult' });
  });

  it('describes every refusal as a problem with a required code', () => {
    expect(document.components.schemas.Problem.required).to.deep.equal(['type', 'title', 'status', 'code', 'detail']);
    // Readiness answers 503 with its checks: a probe's answer, not a refusal.
    for (const { path, method, operation } of operations.filter(({ path }) => path !== '/health/ready')) {
      for (const status of Object.keys(operation.responses).filter((status) => Number(status) >= 400)) {
        const content = response(operation, Number(status)).content as Json;
        expect(content, `${method} ${path} ${status}`).to.have.key('application/problem+json');
      }
    }
  });

  it('describes queries with their parameters from the same zod schemas, and the position to read one\'s own write', () => {
    const list = at('/api/deals', 'get');
    const parameters = Object.fromEntries(list.parameters.map((p: Json) => [p.name, p]));
    expect(parameters).to.include.keys('stage', 'limit', 'cursor', 'position', 'X-Position');
    expect(parameters.position.schema).to.deep.equal({ $ref: '#/components/schemas/Position' });
    expect(at('/api/hitl/approval-queue', 'get').responses).to.have.keys('200', '400', '401', '429', '503');
    expect(at('/api/agents/{agentId}/runs/{id}', 'get').parameters.filter((p: Json) => p.in === 'path')).to.have.length(2);
  });

  it("describes the auditors', integrators' and admins' routes with their roles, parameters and media types", () => {
    const history = at('/api/audit/streams/{streamId}/events', 'get');
    expect(history.description).to.equal('Roles: auditor, admin.');
    expect(history.parameters[0]).to.deep.include({ name: 'streamId', schema: { type: 'string' } });
    expect(response(at('/api/audit/export', 'get'), 200).content).to.have.key('application/x-ndjson');
    expect(response(at('/api/integrations/feed', 'get'), 200).content).to.have.key('text/event-stream');
    expect(at('/api/integrations/webhooks/{id}', 'delete').responses).to.include.keys('204', '404');
    expect(at('/api/workers', 'get').responses).to.have.keys('200', '400', '401', '403', '429', '503');
    expect(at('/api/projections', 'get').description).to.equal('Roles: admin.');
  });

  it('describes the routes outside /api: health, the description, its docs, the console, token keys and the queue dashboard', () => {
    expect(Object.keys(document.paths).filter((path) => !path.startsWith('/api/'))).to.have.members(['/health', '/health/live', '/health/ready', '/openapi.json', '/docs', '/docs/{asset}', '/console', '/console/{page}', '/console/assets/{asset}', '/.well-known/jwks.json', '/admin/queues']);
    const ready = at('/health/ready', 'get');
    expect(ready.security).to.deep.equal([]);
    expect(ready.responses).to.have.keys('200', '400', '503');
    expect(response(ready, 503).content['application/json'].schema).to.deep.equal({ $ref: '#/components/schemas/Readiness' });
    const dashboard = at('/admin/queues', 'get');
    expect(dashboard.security).to.deep.equal([{ dashboardSignIn: [] }]);
    expect(response(dashboard, 200).content).to.have.key('text/html');
    expect(response(dashboard, 401).headers['WWW-Authenticate'].required).to.equal(true);
  });
});
