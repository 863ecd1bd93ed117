import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';

/** One answer of the app, as the client received it. */
export interface Exchange {
  method: string;
  /** The request's path and query, as sent. */
  url: string;
  /** The request's headers (only a preflight's are looked at). */
  requestHeaders: Record<string, string | string[] | undefined>;
  status: number;
  headers: Record<string, string | undefined>;
  /** The body, when it is JSON (others are not read). */
  body?: Buffer;
}

/** How an answer departs from the description. */
export interface Violation {
  exchange: Exchange;
  /** `<operationId> (<METHOD> <path template>)`, or the request when no operation matches. */
  operation: string;
  problems: string[];
}

type Json = Record<string, unknown>;
interface Operation {
  id: string;
  method: string;
  template: string;
  pattern: RegExp;
  /** Literal segments first: `/api/agent/activity` before `/api/agents/{id}`. */
  parameters: number;
  responses: Record<string, Json>;
}

/**
 * Below these paths live third-party apps the description names only by their entry page: the queue
 * dashboard's own files and JSON API are bull-board's. Their answers are not the API's; the
 * refusals of dealstream's guards in front of them (401, 403, 429) are, and are checked as problems.
 */
const MOUNTED_APPS = ['/admin/queues/'];
/** What may answer a request that no operation describes: refusals at the edge, never a route's answer. */
const REFUSALS_OF_UNKNOWN_ROUTES = new Set([400, 401, 404, 413, 415, 429, 503]);
const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json$/;
const COMPONENTS = 'urn:dealstream:components';

/**
 * Checks answers against an OpenAPI 3.1 description: the operation (method and path template), the
 * status it lists, the media type it lists for that status, the headers it marks required, and a
 * JSON body against the schema (JSON Schema 2020-12, with the description's components).
 */
export class ResponseValidator {
  private readonly operations: Operation[];
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction | Error>();

  constructor(private readonly document: Json) {
    this.operations = Object.entries((document.paths ?? {}) as Record<string, Record<string, Json>>)
      .flatMap(([template, item]) =>
        Object.entries(item).map(([method, operation]) => ({
          id: String(operation.operationId),
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${template.split(/\{\w+\}/).map(escapeRegExp).join('[^/]+')}$`),
          parameters: (template.match(/\{/g) ?? []).length,
          responses: operation.responses as Record<string, Json>,
        })),
      )
      .sort((a, b) => a.parameters - b.parameters);
    this.ajv = new Ajv2020({ allErrors: true, strict: true });
    formats.default(this.ajv);
    // OpenAPI's own schema keywords (3.1 allows them beside JSON Schema's).
    this.ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
    const components = (document.components ?? {}) as { schemas?: Json };
    this.ajv.addSchema({ $id: COMPONENTS, $defs: rewriteRefs(components.schemas ?? {}) });
  }

  /** The ways this answer departs from the description, if any. */
  check(exchange: Exchange): Violation | undefined {
    const method = exchange.method === 'HEAD' ? 'GET' : exchange.method;
    const path = normalize(exchange.url);
    // A CORS preflight is the browser's question about the API, which the CORS layer answers for every path.
    if (method === 'OPTIONS' && exchange.requestHeaders['access-control-request-method'] !== undefined) return undefined;
    const operation = this.operations.find((candidate) => candidate.method === method && candidate.pattern.test(path));
    if (!operation) {
      const mounted = MOUNTED_APPS.some((prefix) => path.startsWith(prefix));
      if (mounted && ![401, 403, 429].includes(exchange.status)) return undefined;
      const problems =
        mounted || REFUSALS_OF_UNKNOWN_ROUTES.has(exchange.status)
          ? this.problemsOfBody(exchange, 'application/problem+json', { $ref: '#/components/schemas/Problem' }, 'a refusal')
          : [`no operation is described for ${method} ${path}, yet it answered ${exchange.status}`];
      return problems.length > 0 ? { exchange, operation: `${exchange.method} ${path} (${mounted ? "bull-board's" : 'undescribed'})`, problems } : undefined;
    }
    const name = `${operation.id} (${operation.method} ${operation.template})`;
    const problems = this.problemsOf(operation, exchange, name);
    return problems.length > 0 ? { exchange, operation: name, problems } : undefined;
  }

  private problemsOf(operation: Operation, exchange: Exchange, name: string): string[] {
    const declared = operation.responses[String(exchange.status)] ?? operation.responses.default;
    if (!declared) return [`status ${exchange.status} is not described (it lists ${Object.keys(operation.responses).join(', ')})`];
    const response = this.resolve(declared);
    const problems: string[] = [];
    for (const [header, spec] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
      if (this.resolve(spec).required === true && exchange.headers[header.toLowerCase()] === undefined) problems.push(`required header ${header} is missing`);
    }
    const content = (response.content ?? {}) as Record<string, { schema?: Json }>;
    const mediaType = mediaTypeOf(exchange);
    if (Object.keys(content).length === 0) {
      if (mediaType && exchange.method !== 'HEAD') problems.push(`no body is described, yet it answered ${mediaType}`);
      return problems;
    }
    const described = Object.keys(content).find((type) => mediaTypeMatches(type, mediaType));
    if (!described) return [...problems, `content type ${mediaType ?? '(none)'} is not described (it lists ${Object.keys(content).join(', ')})`];
    if (exchange.method === 'HEAD') return problems;
    return [...problems, ...this.problemsOfBody(exchange, described, content[described]!.schema, name)];
  }

  private problemsOfBody(exchange: Exchange, described: string, schema: Json | undefined, name: string): string[] {
    const mediaType = mediaTypeOf(exchange);
    if (!mediaTypeMatches(described, mediaType)) return [`content type ${mediaType ?? '(none)'} is not ${described}`];
    if (!schema || !JSON_TYPE.test(mediaType ?? '')) return [];
    if (!exchange.body) return ['the JSON body was not seen (too large to keep?)'];
    let body: unknown;
    try {
      body = JSON.parse(exchange.body.toString('utf8'));
    } catch (error) {
      return [`the body is not JSON: ${(error as Error).message}`];
    }
    const validate = this.validatorOf(`${name} ${exchange.status} ${described}`, schema);
    if (validate instanceof Error) return [`its schema does not compile: ${validate.message}`];
    return validate(body) ? [] : (validate.errors ?? []).map((error) => describeError(error, body));
  }

  private validatorOf(key: string, schema: Json): ValidateFunction | Error {
    let validate = this.compiled.get(key);
    if (!validate) {
      try {
        validate = this.ajv.compile(rewriteRefs(schema) as Json);
      } catch (error) {
        validate = error as Error;
      }
      this.compiled.set(key, validate);
    }
    return validate;
  }

  /** A `$ref` into components (responses, headers) followed. */
  private resolve(node: Json): Json {
    const ref = node.$ref;
    if (typeof ref !== 'string') return node;
    const target = ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((at, key) => (at as Json | undefined)?.[key], this.document);
    if (!target) throw new Error(`${ref} does not resolve`);
    return this.resolve(target as Json);
  }
}

/** A violation as a test failure names it: the request, the operation, the status, and what is wrong. */
export function describeViolation({ exchange, operation, problems }: Violation): string {
  const body = exchange.body ? `\n    body: ${exchange.body.toString('utf8').slice(0, 500)}` : '';
  return `${exchange.method} ${exchange.url} → ${exchange.status} ${exchange.headers['content-type'] ?? ''}\n    operation: ${operation}\n${problems.map((problem) => `    - ${problem}`).join('\n')}${body}`;
}

function describeError(error: ErrorObject, body: unknown): string {
  const at = error.instancePath || '(body)';
  const extra = error.keyword === 'additionalProperties' ? `: ${String(error.params.additionalProperty)}` : error.keyword === 'enum' ? `: ${JSON.stringify(error.params.allowedValues)}` : '';
  const value = error.instancePath ? ` (is ${JSON.stringify(valueAt(body, error.instancePath))?.slice(0, 120)})` : '';
  return `${at} ${error.message}${extra}${value}`;
}

function valueAt(body: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((at, key) => (at as Json | undefined)?.[key], body);
}

/** `#/components/schemas/X` points into the components schema Ajv holds. */
function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [key, key === '$ref' && typeof value === 'string' ? value.replace('#/components/schemas/', `${COMPONENTS}#/$defs/`) : rewriteRefs(value)]),
  );
}

/** The path without query and trailing slash (express routes ignore it), as the description writes paths. */
function normalize(url: string): string {
  const path = url.split('?')[0]!;
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

function mediaTypeOf(exchange: Exchange): string | undefined {
  return exchange.headers['content-type']?.split(';')[0]!.trim().toLowerCase() || undefined;
}

function mediaTypeMatches(described: string, actual: string | undefined): boolean {
  if (!actual) return false;
  const [type, subtype] = described.split('/');
  const [actualType, actualSubtype] = actual.split('/');
  return (type === '*' || type === actualType) && (subtype === '*' || subtype === actualSubtype);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
