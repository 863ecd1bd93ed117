import type { z } from 'zod';
import { Money } from '../domain/shared/money.js';
import type { AnyQueryRoute } from '../queries/query-route.js';
import { CommandResult, CreatedResult, PositionToken, Problem } from './api-shapes.js';
import type { AnyCommandRoute } from './command-route.js';
import { Components, TAGS, type Header, type Tag } from './openapi-components.js';
import { PLATFORM_API } from './platform-api.js';

/** A route of neither kind (admin reads, audit, integrations, principals), described where it is declared. */
export interface DescribedRoute {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Under /api, as express writes it (`/audit/streams/:streamId/events`). */
  path: string;
  summary: string;
  /** Who may call it: roles, or every authenticated role. */
  roles: readonly string[] | 'every';
  /** The path parameters' shapes; without it each is a UUID. */
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The answer when it works: status 200 and JSON unless said otherwise; `schema` is the JSON body's shape. */
  success?: { status?: number; contentType?: string; description?: string; schema?: z.ZodType; headers?: Record<string, Header> };
  /** When it answers 503 besides an outage of the database (which every authenticated route may answer). */
  unavailable?: string;
  /** Refusals beyond those every route of its kind may answer (400, 401, 403, 404, 413, 415, 429, 503), by status. */
  problems?: Record<number, string>;
  /** Stable and camelCase; derived from the method and path when not given (see operationIdOf). */
  operationId?: string;
}

/** The area of an /api path; an unknown one is its first segment, which `npm run lint` refuses (no such tag). */
function tagOf(path: string): Tag {
  if (/^\/hitl\//.test(path) || /^\/actions\/:id\/(approve|reject)$/.test(path)) return 'approvals';
  if (path.startsWith('/integrations/webhooks')) return 'webhooks';
  const first = path.split('/')[1] ?? '';
  const areas: Record<string, Tag> = {
    deals: 'deals', pipeline: 'deals',
    actions: 'actions', 'action-kinds': 'actions', policies: 'actions',
    agents: 'agents', agent: 'agents',
    events: 'timeline',
    audit: 'audit',
    integrations: 'integrations',
    me: 'principals', principals: 'principals',
    projections: 'admin', workers: 'admin',
  };
  return areas[first] ?? (first as Tag);
}

/**
 * Operation ids where the one derived from method and path would read badly. Keys are
 * `<method> <path under /api>`; a key no route has any more is caught by test/http/openapi.spec.ts.
 */
export const OPERATION_IDS: Record<string, string> = {
  'get /me': 'getMe',
  'post /principals/:id/roles': 'setPrincipalRoles',
  'post /principals/:id/keys': 'issueApiKey',
  'post /principals/:id/keys/:keyId/revoke': 'revokeApiKey',
  'get /audit/streams/:streamId/events': 'getStreamHistory',
  'get /audit/streams/:streamId/verify': 'verifyStream',
  'get /audit/deals/:id/state': 'getDealAsOf',
  'get /audit/actions/:id/state': 'getActionAsOf',
  'get /audit/export': 'exportEvents',
  'get /integrations/feed': 'openEventFeed',
  'get /integrations/event-types': 'listEventTypes',
  'get /integrations/event-types/:type': 'getEventType',
  'post /integrations/webhooks': 'createWebhook',
  'get /integrations/webhooks': 'listWebhooks',
  'get /integrations/webhooks/:id': 'getWebhook',
  'delete /integrations/webhooks/:id': 'deleteWebhook',
  'post /integrations/webhooks/:id/pause': 'pauseWebhook',
  'post /integrations/webhooks/:id/resume': 'resumeWebhook',
  'post /integrations/webhooks/:id/reset': 'resetWebhook',
  'get /integrations/webhooks/:id/deliveries': 'listWebhookDeliveries',
  'get /pipeline': 'getPipeline',
  'post /actions': 'proposeAction',
  'get /hitl/approval-queue': 'listPendingApprovals',
  'get /agent/activity': 'listAgentActivity',
  'post /agents': 'registerAgent',
  'post /agents/:id/budget': 'setAgentBudget',
  'post /agents/:agentId/runs': 'startAgentRun',
  'post /agents/:agentId/runs/:id/tool-calls': 'recordToolCall',
  'get /events/recent': 'listRecentEvents',
  'post /deals/:id/owner': 'assignDealOwner',
  'post /deals/:id/notes': 'addDealNote',
  'post /deals/:id/stage': 'changeDealStage',
  'get /workers': 'getWorkers',
  'get /policies/risk': 'getRiskPolicy',
  'post /actions/:id/outcome': 'recordActionOutcome',
};

/**
 * `list<Things>` and `create<Thing>` on a collection, `get`/`update`/`delete<Thing>` on one,
 * `<verb><Thing>` for a verb after an id (`approveAction`), nouns singular before an id.
 */
export function operationIdOf(method: string, path: string, given?: string): string {
  if (given) return given;
  const explicit = OPERATION_IDS[`${method} ${path}`];
  if (explicit) return explicit;
  const segments = path.split('/').filter(Boolean);
  const isParameter = (segment: string | undefined) => segment?.startsWith(':') ?? false;
  const last = segments.at(-1);
  const verbAfterId = method === 'post' && !isParameter(last) && isParameter(segments.at(-2));
  const nouns = verbAfterId ? segments.slice(0, -1) : segments;
  const verb = verbAfterId ? last! : ({ get: isParameter(last) ? 'get' : 'list', post: 'create', patch: 'update', delete: 'delete' } as Record<string, string>)[method]!;
  const words = nouns.flatMap((segment, i) => (isParameter(segment) ? [] : [isParameter(nouns[i + 1]) || (verb !== 'list' && i === nouns.length - 1) ? segment.replace(/s$/, '') : segment]));
  return [verb, ...words].map((word, i) => word.split(/[-_]/).map((part, j) => (i === 0 && j === 0 ? part : part.charAt(0).toUpperCase() + part.slice(1))).join('')).join('');
}

/** Path parameters are UUIDs unless the route's `params` says otherwise; these two are always text. */
const TEXT_PARAMETERS = new Set(['streamId', 'type']);

/** OpenAPI 3.1, generated from the command and query routes (with their zod schemas), the described routes and the platform's. */
export function openApiDocument(routes: readonly AnyCommandRoute[], queries: readonly AnyQueryRoute[], described: readonly DescribedRoute[], version: string): object {
  const components = new Components({ Money });
  const paths: Record<string, Record<string, object>> = {};
  const problem = (description: string, headers: Record<string, Header> = {}) => ({
    description,
    ...headersOf(headers),
    content: { 'application/problem+json': { schema: components.schemaOf(Problem, 'output') } },
  });
  /** The refusals any route may answer, each written once under components.responses. */
  const shared = {
    400: () => components.response('BadRequest', () => problem('Invalid input: `errors` names each invalid field (a path segment, query parameter, header or body field)')),
    401: () => components.response('Unauthenticated', () => problem('No credential, or one that is unknown, expired or revoked (`AUTH.UNAUTHENTICATED`)', { 'WWW-Authenticate': { description: 'The scheme to authenticate with: `Bearer realm="dealstream"`', required: true } })),
    403: () => components.response('Forbidden', () => problem("The caller's roles do not allow this (`AUTH.FORBIDDEN`)")),
    404: () => components.response('NotFound', () => problem('No such resource, or one the caller may not see')),
    413: () => components.response('PayloadTooLarge', () => problem('The body is larger than 1 MB')),
    415: () => components.response('UnsupportedMediaType', () => problem('The body is not `application/json`, or in a charset or encoding that cannot be read')),
    429: () =>
      components.response('RateLimited', () =>
        problem('Too many requests: a rate limit is spent (`RATE_LIMITED`; `limit` names which), or, opening the feed, too many feeds are open (`FEED.TOO_MANY`). Try again after Retry-After seconds', {
          'Retry-After': { description: 'Seconds to wait before trying again', required: true },
          RateLimit: { description: 'The limit that refused it: `limit=<n>, remaining=0, reset=<seconds>`' },
          'RateLimit-Policy': { description: '`<requests>;w=<seconds>`' },
        }),
      ),
    503: () =>
      components.response('Unavailable', () =>
        problem('A service it needs cannot be reached (`DATABASE.UNAVAILABLE`, `EVENT_STORE.UNAVAILABLE`): try again after Retry-After seconds', {
          'Retry-After': { description: 'Seconds to wait before trying again' },
        }),
      ),
  };
  /** What every authenticated /api route may answer besides its own: bad input, no credential, rate limits, the database away (credentials are checked against it). */
  const apiRefusals = (path: string, restricted: boolean) => ({
    400: shared[400](),
    401: shared[401](),
    ...(restricted ? { 403: shared[403]() } : {}),
    ...(path.includes(':') ? { 404: shared[404]() } : {}),
    429: shared[429](),
    503: shared[503](),
  });
  const withBody = { 413: shared[413](), 415: shared[415]() };
  const add = (method: string, path: string, operation: Record<string, unknown>) => {
    (paths[path.replace(/:(\w+)/g, '{$1}')] ??= {})[method] = operation;
  };
  const parameters = (path: string, params: z.ZodType | undefined, query: z.ZodType | undefined) => [
    ...pathParameters(path, params && components.schemaOf(params, 'input')),
    ...objectParameters('query', query && components.schemaOf(query, 'input')),
  ];
  const json = (schema: object) => ({ 'application/json': { schema } });

  for (const route of described) {
    const { status = route.method === 'delete' ? 204 : 200, contentType = 'application/json', description = 'Done', schema, headers = {} } = route.success ?? {};
    const body = contentType !== 'application/json' ? { type: 'string' } : schema ? components.schemaOf(schema, 'output') : { type: 'object' };
    add(route.method, '/api' + route.path, {
      ...identity(route.method, route.path, route.operationId),
      summary: route.summary,
      description: route.roles === 'every' ? 'Every role may call it.' : `Roles: ${route.roles.join(', ')}.`,
      'x-roles': route.roles,
      security: [{ apiKey: [] }],
      parameters: parameters(route.path, route.params, route.query),
      ...(route.body ? { requestBody: { required: true, content: json(components.schemaOf(route.body, 'input')) } } : {}),
      responses: sortedByStatus({
        [status]: status === 204 ? { description, ...headersOf(headers) } : { description, ...headersOf(headers), content: { [contentType]: { schema: body } } },
        ...apiRefusals(route.path, route.roles !== 'every'),
        // Bodies are read before any route, so a request that may carry one may be refused for it.
        ...(route.method !== 'get' ? withBody : {}),
        ...Object.fromEntries(Object.entries(route.problems ?? {}).map(([code, text]) => [code, problem(text)])),
        ...(route.unavailable ? { 503: problem(`${route.unavailable}; or the database cannot be reached (\`DATABASE.UNAVAILABLE\`)`, { 'Retry-After': { description: 'Seconds to wait before trying again (an outage)' } }) } : {}),
      }),
    });
  }

  for (const route of queries) {
    add('get', '/api' + route.path, {
      ...identity('get', route.path),
      summary: route.summary,
      description: `Every role may read. Reads the ${route.reads.join(', ')} read model${route.reads.length > 1 ? 's' : ''}.`,
      'x-roles': 'every',
      security: [{ apiKey: [] }],
      parameters: [
        ...parameters(route.path, undefined, route.query),
        { name: 'position', in: 'query', description: "A command's position: wait (bounded) until this answer includes it", schema: components.schemaOf(PositionToken, 'input') },
        { name: 'X-Position', in: 'header', description: 'The same as `position`', schema: components.schemaOf(PositionToken, 'input') },
      ],
      responses: sortedByStatus({
        200: {
          description: 'The answer; lists are `{ items, nextCursor }`',
          ...headersOf({ 'X-Stale': { description: 'Given a position: `false` once the answer includes it, `true` if the wait ran out' } }),
          content: json(route.response ? components.schemaOf(route.response, 'output') : { type: 'object' }),
        },
        ...apiRefusals(route.path, false),
      }),
    });
  }

  const etag = { ETag: { description: 'The new revision, quoted: send it as If-Match to change only what you saw', required: true } };
  for (const route of routes) {
    const created = route.location !== undefined;
    add(route.method, '/api' + route.path, {
      ...identity(route.method, route.path),
      summary: route.summary,
      description: `Roles: ${route.roles.join(', ')}.`,
      'x-roles': route.roles,
      security: [{ apiKey: [] }],
      parameters: [
        ...parameters(route.path, undefined, undefined),
        { name: 'If-Match', in: 'header', description: 'The revision you saw, e.g. `"3"`: a stale one is 412', schema: { type: 'string' } },
        { name: 'Idempotency-Key', in: 'header', description: 'Repeat safely: the same key and request answer the first response again, byte for byte', schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,200}$' } },
      ],
      requestBody: { required: true, content: json(components.schemaOf(route.body, 'input')) },
      responses: sortedByStatus({
        ...(created
          ? { 201: { description: 'Created', ...headersOf({ ...etag, Location: { description: 'The new resource', required: true } }), content: json(components.schemaOf(CreatedResult, 'output')) } }
          : { 200: { description: 'Done', ...headersOf({ ETag: { ...etag.ETag, required: false } }), content: json(components.schemaOf(CommandResult, 'output')) } }),
        ...apiRefusals(route.path, true),
        404: shared[404](),
        ...withBody,
        409: components.response('Conflict', () =>
          problem('Refused by a domain rule (see `code`), or `STREAM.CONTENDED`: the stream kept changing, try again after Retry-After', {
            'Retry-After': { description: 'With `STREAM.CONTENDED`: seconds to wait before trying again' },
          }),
        ),
        412: components.response('PreconditionFailed', () => problem('If-Match names a revision that is not the current one any more')),
        422: components.response('IdempotencyKeyReused', () => problem('The Idempotency-Key was used with another request')),
      }),
    });
  }

  for (const route of PLATFORM_API) {
    add(route.method, route.path, {
      operationId: route.operationId,
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      security: route.auth === 'basic' ? [{ dashboardSignIn: [] }] : [],
      parameters: pathParameters(route.path, route.params && components.schemaOf(route.params, 'input')),
      responses: sortedByStatus({
        ...Object.fromEntries(
          Object.entries(route.responses).map(([status, { description, contentType = 'application/json', schema, headers = {}, empty }]) => [
            status,
            empty
              ? { description, ...headersOf(headers) }
              : { description, ...headersOf(headers), content: { [contentType]: { schema: schema ? components.schemaOf(schema, 'output') : { type: 'string' } } } },
          ]),
        ),
        400: shared[400](),
        ...(route.auth === 'basic'
          ? {
              401: problem('Sign in: any user name and an admin\'s API key as the password (`AUTH.UNAUTHENTICATED`)', { 'WWW-Authenticate': { description: '`Basic realm="dealstream"`', required: true } }),
              403: shared[403](),
              429: shared[429](),
              503: shared[503](),
            }
          : {}),
      }),
    });
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'dealstream',
      version,
      description: 'Event-sourced deal lifecycle: AI agents propose actions, humans approve the risky ones.',
      license: { name: 'UNLICENSED: proprietary, all rights reserved', identifier: 'LicenseRef-UNLICENSED' },
    },
    servers: [{ url: '/', description: 'The server that serves this description' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: components.schemas,
      responses: components.responses,
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: "An API key of a principal (`dealstream keys issue`), or a person's token (`dealstream tokens issue`, or an OIDC provider's)" },
        dashboardSignIn: { type: 'http', scheme: 'basic', description: "The queue dashboard's sign-in, which a browser asks for: any user name, an admin's API key as the password" },
      },
    },
  };
}

function identity(method: string, path: string, given?: string) {
  return { operationId: operationIdOf(method, path, given), tags: [tagOf(path)] };
}

function pathParameters(path: string, schema: { properties?: Record<string, object> } | undefined) {
  return [...path.matchAll(/:(\w+)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: schema?.properties?.[name!] ?? (TEXT_PARAMETERS.has(name!) ? { type: 'string' } : { type: 'string', format: 'uuid' }),
  }));
}

function objectParameters(where: 'query', schema: { properties?: Record<string, object>; required?: string[] } | undefined) {
  return Object.entries(schema?.properties ?? {}).map(([name, property]) => {
    const { description, deprecated, ...rest } = property as { description?: string; deprecated?: boolean };
    return { name, in: where, required: schema?.required?.includes(name) ?? false, ...(description ? { description } : {}), ...(deprecated ? { deprecated } : {}), schema: rest };
  });
}

function headersOf(headers: Record<string, Header>) {
  if (Object.keys(headers).length === 0) return {};
  return { headers: Object.fromEntries(Object.entries(headers).map(([name, { description, required }]) => [name, { description, ...(required ? { required } : {}), schema: { type: 'string' } }])) };
}

/** Responses in status order, however they were put together. */
function sortedByStatus(responses: Record<string, unknown>) {
  return Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
}
