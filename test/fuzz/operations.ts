import type { Role } from '../../src/auth/principal.js';
import type { JsonSchema } from './openapi-arbitraries.js';

export type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

/** One operation of the OpenAPI description, as the fuzzer drives it. */
export interface Operation {
  method: Method;
  /** As the document writes it: `/api/deals/{id}`. */
  template: string;
  roles: readonly Role[] | 'every';
  /** Path parameters in order, each with the pool its real values come from (and which part of a `parent/child` entry). */
  pathParams: { name: string; pool: string; part?: 0 | 1 }[];
  query: { name: string; required: boolean; schema: JsonSchema }[];
  body?: JsonSchema;
  /** An endless answer (server-sent events): read briefly, never to its end. */
  streaming: boolean;
  /** A command: it answers `{revision, position}` (and the new `id`, creating), the position of what it appended. */
  command: boolean;
}

interface OpenApiOperation {
  'x-roles': readonly Role[] | 'every';
  parameters?: { name: string; in: string; required?: boolean; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

/** The segment before a path parameter names what it is: `/deals/{id}` is a deal. */
const POOL_OF_SEGMENT: Record<string, string> = {
  deals: 'deal',
  actions: 'action',
  agents: 'agent',
  runs: 'run',
  principals: 'principal',
  keys: 'key',
  webhooks: 'webhook',
  streams: 'stream',
  'event-types': 'type',
};

/** What commands answer: `{revision, position}`, and `{id, revision, position}` when they create. */
const COMMAND_RESULTS = ['#/components/schemas/CommandResult', '#/components/schemas/Created'];

/** Every operation the document describes. */
export function operationsOf(document: OpenApiDocument): Operation[] {
  const inline = (schema: JsonSchema) => inlineRefs(schema, document.components?.schemas ?? {});
  // The API's: the pages and documents outside /api (health, docs, the dashboard) take no input to fuzz.
  return Object.entries(document.paths).filter(([template]) => template.startsWith('/api/')).flatMap(([template, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method as Method,
      template,
      roles: operation['x-roles'],
      pathParams: pathParamsOf(template, method),
      // Headers (If-Match, X-Position, ...) are the mutations' business.
      query: (operation.parameters ?? []).filter((parameter) => parameter.in === 'query').map(({ name, required, schema }) => ({ name, required: required ?? false, schema: inline(schema) })),
      ...(operation.requestBody ? { body: inline(operation.requestBody.content['application/json']!.schema) } : {}),
      streaming: Object.values(operation.responses).some((response) => Object.keys(response.content ?? {}).includes('text/event-stream')),
      command: Object.values(operation.responses).some((response) => COMMAND_RESULTS.includes(response.content?.['application/json']?.schema?.$ref ?? '')),
    })),
  );
}

/** Objects that live under another: their pools hold `parent/child` (`<agentId>/<runId>`). */
const NESTED = new Set(['run', 'key']);

/**
 * A deletion draws from a pool of its own (`doomed-webhook`), so that the other operations keep
 * their objects. A nested object names its parent too: `/agents/{agentId}/runs/{id}` takes both
 * from one run.
 */
function pathParamsOf(template: string, method: string): Operation['pathParams'] {
  const segments = template.split('/');
  const params = segments.flatMap((segment, i) => {
    const name = /^\{(\w+)\}$/.exec(segment)?.[1];
    if (!name) return [];
    const pool = POOL_OF_SEGMENT[segments[i - 1]!];
    if (!pool) throw new Error(`no pool for the parameter ${name} of ${template}`);
    return [{ name, pool: method === 'delete' ? `doomed-${pool}` : pool }];
  });
  const [parent, child] = params;
  if (parent && child && NESTED.has(child.pool)) return [{ ...parent, pool: child.pool, part: 0 }, { ...child, part: 1 }];
  return params;
}

export const label = (operation: Pick<Operation, 'method' | 'template'>) => `${operation.method.toUpperCase()} ${operation.template}`;

/** Shared shapes (`#/components/schemas/Money`) put in place, so that values and mutations see whole schemas. */
function inlineRefs(schema: JsonSchema, components: Record<string, JsonSchema>): JsonSchema {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return node;
    const ref = (node as JsonSchema).$ref;
    const name = ref && /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1];
    if (name && components[name]) return walk(components[name]);
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value)]));
  };
  return walk(schema) as JsonSchema;
}
