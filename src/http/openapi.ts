import { z } from 'zod';
import type { AnyQueryRoute } from '../queries/query-route.js';
import { CommandAnswer, CreationAnswer, type AnyCommandRoute } from './command-route.js';
import { ProblemBody } from './problem-catalog.js';

const problem = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });
/** Every command and query needs PostgreSQL (and commands the event store): while one is away, 503. */
const outageResponse = {
  ...problemResponse('A service it needs cannot be reached (`DATABASE.UNAVAILABLE`, `EVENT_STORE.UNAVAILABLE`); try again later'),
  headers: { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'string' } } },
};

/** Path parameters are UUIDs, except these. */
const TEXT_PARAMETERS = new Set(['streamId', 'type']);
const pathParameters = (path: string) =>
  [...path.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string', ...(TEXT_PARAMETERS.has(name!) ? {} : { format: 'uuid' }) } }));

const jsonSchemaOf = (schema: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest as { properties?: Record<string, object>; required?: string[] };
};
/**
 * A response body's shape as the handler produces it (zod's output side). Shapes with an id
 * (`.meta({ id })`), which zod writes as local $defs, go to `components` and are referenced there.
 */
const responseSchemaOf = (schema: z.ZodType, components: Record<string, object>) => {
  const { $schema: _, $defs, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as { $schema?: string; $defs?: Record<string, object> };
  const toComponents = <T>(value: T): T => JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', '"#/components/schemas/')) as T;
  for (const [id, definition] of Object.entries($defs ?? {})) components[id] = toComponents(definition);
  return toComponents(rest);
};
const queryParameters = (schema: z.ZodType | undefined) => {
  const query = schema ? jsonSchemaOf(schema) : {};
  return Object.entries(query.properties ?? {}).map(([name, property]) => ({ name, in: 'query', required: query.required?.includes(name) ?? false, schema: property }));
};

/** A route of neither kind (admin reads, audit, integrations), described where it is declared. */
export interface DescribedRoute {
  method: 'get' | 'post' | 'delete';
  /** Under /api, as express writes it (`/audit/streams/:streamId/events`). */
  path: string;
  summary: string;
  /** Who may call it: roles, or every authenticated role. */
  roles: readonly string[] | 'every';
  query?: z.ZodType;
  body?: z.ZodType;
  /** The answer when it works: status 200 and JSON unless said otherwise; `schema` is the JSON body's shape. */
  success?: { status?: number; contentType?: string; description?: string; schema?: z.ZodType };
  /** When it answers 503. */
  unavailable?: string;
}

/** OpenAPI 3.1, generated from the command and query routes (with their zod schemas) and the described routes. */
export function openApiDocument(routes: readonly AnyCommandRoute[], queries: readonly AnyQueryRoute[], described: readonly DescribedRoute[], version: string): object {
  const paths: Record<string, Record<string, object>> = {};
  const named: Record<string, object> = {};
  for (const route of described) {
    const path = '/api' + route.path.replace(/:(\w+)/g, '{$1}');
    const { status = route.method === 'delete' ? 204 : 200, contentType = 'application/json', description = 'Done', schema } = route.success ?? {};
    (paths[path] ??= {})[route.method] = {
      summary: route.summary,
      description: route.roles === 'every' ? 'Every role may read.' : `Roles: ${route.roles.join(', ')}.`,
      'x-roles': route.roles,
      security: [{ apiKey: [] }],
      parameters: [...pathParameters(route.path), ...queryParameters(route.query)],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchemaOf(route.body) } } } } : {}),
      responses: {
        [status]: status === 204 ? { description } : { description, content: { [contentType]: { schema: contentType !== 'application/json' ? { type: 'string' } : schema ? responseSchemaOf(schema, named) : { type: 'object' } } } },
        ...(route.query || route.body ? { 400: problemResponse('Invalid request: each invalid field is named') } : {}),
        401: problemResponse('No valid API key'),
        ...(route.roles === 'every' ? {} : { 403: problemResponse('Role not allowed') }),
        ...(route.path.includes(':') ? { 404: problemResponse('Not found') } : {}),
        ...(route.unavailable ? { 503: problemResponse(route.unavailable) } : {}),
      },
    };
  }
  for (const route of queries) {
    const path = '/api' + route.path.replace(/:(\w+)/g, '{$1}');
    (paths[path] ??= {}).get = {
      summary: route.summary,
      description: `Every role may read. Reads the ${route.reads.join(', ')} read model${route.reads.length > 1 ? 's' : ''}.`,
      'x-roles': 'every',
      security: [{ apiKey: [] }],
      parameters: [
        ...pathParameters(route.path),
        ...queryParameters(route.query),
        { name: 'position', in: 'query', description: "A command's position: wait (bounded) until this answer includes it", schema: { type: 'string' } },
        { name: 'X-Position', in: 'header', description: 'The same as `position`', schema: { type: 'string' } },
      ],
      responses: {
        200: {
          description: 'The answer; lists are `{ items, nextCursor }`',
          headers: { 'X-Stale': { description: 'Given a position: false once it is included, true if the wait ran out', schema: { type: 'string' } } },
          content: { 'application/json': { schema: route.response ? responseSchemaOf(route.response, named) : { type: 'object' } } },
        },
        400: problemResponse('Invalid query: each invalid parameter is named'),
        401: problemResponse('No valid API key'),
        ...(route.path.includes(':') ? { 404: problemResponse('Not found') } : {}),
        503: outageResponse,
      },
    };
  }
  for (const route of routes) {
    const path = '/api' + route.path.replace(/:(\w+)/g, '{$1}');
    const success = route.location ? '201' : '200';
    (paths[path] ??= {})[route.method] = {
      summary: route.summary,
      description: `Roles: ${route.roles.join(', ')}.`,
      'x-roles': route.roles,
      security: [{ apiKey: [] }],
      parameters: [
        ...pathParameters(route.path),
        { name: 'If-Match', in: 'header', description: 'The revision you saw, e.g. "3": a stale one is 412', schema: { type: 'string' } },
        { name: 'Idempotency-Key', in: 'header', description: 'Repeat safely: the same key and request answer the first response', schema: { type: 'string' } },
      ],
      requestBody: { required: true, content: { 'application/json': { schema: jsonSchemaOf(route.body) } } },
      responses: {
        [success]: {
          description: route.location ? 'Created' : 'Done',
          headers: {
            ETag: { description: 'The new revision', schema: { type: 'string' } },
            ...(route.location ? { Location: { description: 'The new resource', schema: { type: 'string' } } } : {}),
          },
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.location ? 'CreationResult' : 'CommandResult'}` } } },
        },
        400: problemResponse('Invalid request: each invalid field is named'),
        401: problemResponse('No valid API key'),
        403: problemResponse('Role not allowed'),
        404: problemResponse('Not found'),
        409: {
          ...problemResponse('Refused by a domain rule (see `code`), or `STREAM.CONTENDED`: the stream kept changing, try again after Retry-After'),
          headers: { 'Retry-After': { description: 'With `STREAM.CONTENDED`: seconds to wait before trying again', schema: { type: 'string' } } },
        },
        412: problemResponse('If-Match is stale'),
        415: problemResponse('Not JSON'),
        422: problemResponse('Idempotency-Key reused with another request'),
        503: outageResponse,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'dealstream', version, description: 'Event-sourced deal lifecycle: AI agents propose actions, humans approve the risky ones.' },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key of a principal (`dealstream keys issue`), or a person\'s token (`dealstream tokens issue`, or an OIDC provider\'s)' } },
      schemas: {
        ...named,
        CommandResult: responseSchemaOf(CommandAnswer, named),
        CreationResult: responseSchemaOf(CreationAnswer, named),
        Problem: responseSchemaOf(ProblemBody, named),
      },
    },
    paths,
  };
}
