import { z } from 'zod';
import { JWKS_PATH } from '../auth/tokens/jwks.routes.js';
import { Problem } from './api-shapes.js';
import type { Header, Tag } from './openapi-components.js';
import { QUEUE_DASHBOARD_PATH } from './queue-dashboard.js';

export const Liveness = z.object({ status: z.literal('ok') }).meta({ id: 'Liveness', description: 'The process serves HTTP' });
export type Liveness = z.infer<typeof Liveness>;

const Check = z.string().describe('`ok`, or what is wrong: `unavailable: <error>`, `not migrated: <migrations> pending`, `per process: Redis is unreachable`');
export const Readiness = z
  .object({
    status: z.enum(['ok', 'degraded', 'unavailable']).describe('`degraded`: it serves, without some dependency (queries still answer); `unavailable`: PostgreSQL is away or not migrated'),
    checks: z
      .object({
        postgres: Check,
        eventStore: Check,
        redis: Check.optional().describe('Where this process holds job queues'),
        rateLimits: Check.optional().describe('Where rate limits are on: shared across processes through Redis, or counted per process while it is away'),
      })
      .describe('Each dependency'),
  })
  .meta({ id: 'Readiness', description: 'Whether this process can serve, and each dependency\'s state' });
export type Readiness = z.infer<typeof Readiness>;

const Jwks = z
  .object({
    keys: z.array(
      z.looseObject({
        kty: z.string(),
        kid: z.string().describe("The key's RFC 7638 thumbprint: tokens name it in their header"),
        alg: z.string(),
        use: z.literal('sig'),
      }),
    ),
  })
  .meta({ id: 'JsonWebKeySet', description: 'RFC 7517: the public keys of dealstream\'s own tokens, current and lately retired' });

/** A route outside /api (health, the description itself, token keys, the queue dashboard). */
export interface PlatformRoute {
  method: 'get';
  /** The whole path. */
  path: string;
  summary: string;
  description?: string;
  tag: Tag;
  operationId: string;
  /** `basic`: the queue dashboard, which a browser signs in to with an admin's API key as the password. */
  auth: 'none' | 'basic';
  params?: z.ZodType;
  /** `empty`: an answer without a body (304). */
  responses: Record<number, { description: string; contentType?: string; schema?: z.ZodType; headers?: Record<string, Header>; empty?: boolean }>;
}

const html = (description: string) => ({ description, contentType: 'text/html' });
const notModified = { description: 'Not modified: the copy the browser revalidated (If-None-Match, If-Modified-Since) is current', empty: true };
const notBuilt = { description: 'The console is not built: run `npm run build` (`CONSOLE.NOT_BUILT`)', contentType: 'application/problem+json', schema: Problem };

/** Health probes, the description itself and its browser, token keys, and the queue dashboard. */
export const PLATFORM_API: readonly PlatformRoute[] = [
  {
    method: 'get', path: '/health/live', operationId: 'checkLiveness', tag: 'health', auth: 'none',
    summary: 'Liveness: the process serves HTTP (it never asks a dependency)',
    responses: { 200: { description: 'Alive', schema: Liveness } },
  },
  {
    method: 'get', path: '/health', operationId: 'checkHealth', tag: 'health', auth: 'none',
    summary: 'The same as /health/live, for probes that know only /health',
    responses: { 200: { description: 'Alive', schema: Liveness } },
  },
  {
    method: 'get', path: '/health/ready', operationId: 'checkReadiness', tag: 'health', auth: 'none',
    summary: 'Readiness: 200 while PostgreSQL answers and is migrated (`degraded` when the event store or Redis is away), 503 otherwise',
    responses: {
      200: { description: 'Ready (`ok`) or serving without some dependency (`degraded`)', schema: Readiness },
      503: { description: 'Not ready: PostgreSQL is away or not migrated', schema: Readiness },
    },
  },
  {
    method: 'get', path: '/openapi.json', operationId: 'getOpenApiDescription', tag: 'meta', auth: 'none',
    summary: 'This description (OpenAPI 3.1)',
    responses: { 200: { description: 'The description', schema: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }) } },
  },
  {
    method: 'get', path: '/docs', operationId: 'getApiDocs', tag: 'meta', auth: 'none',
    summary: 'This description in a browser (Swagger UI), with "try it out"',
    description: 'The page is at `/docs/`: `/docs` redirects there.',
    responses: {
      200: html('The page'),
      301: { ...html('To `/docs/`'), headers: { Location: { description: '`/docs/`', required: true } } },
    },
  },
  {
    method: 'get', path: '/docs/:asset', operationId: 'getApiDocsAsset', tag: 'meta', auth: 'none',
    summary: "The documentation page's scripts, styles and images",
    params: z.object({ asset: z.string().describe('A file name such as `swagger-ui-bundle.js`') }),
    responses: {
      200: { description: 'The file', contentType: '*/*' },
      404: { description: 'No such file', contentType: 'application/problem+json', schema: Problem },
    },
  },
  {
    method: 'get', path: '/console', operationId: 'getConsole', tag: 'meta', auth: 'none',
    summary: 'The operator console: sign in, then approve or reject what agents propose (a page that calls this API)',
    description: 'Its own page needs no credential; it signs in to /api with a token or key kept in the browser tab. 503 `CONSOLE.NOT_BUILT` until `npm run build` has built it.',
    responses: { 200: { ...html('The page'), headers: { 'Cache-Control': { description: '`no-cache`', required: true } } }, 304: notModified, 503: notBuilt },
  },
  {
    method: 'get', path: '/console/:page', operationId: 'getConsolePage', tag: 'meta', auth: 'none',
    summary: "A page of the console (it routes in the browser): the same page as /console",
    params: z.object({ page: z.string().describe('A page such as `inbox`') }),
    responses: { 200: { ...html('The page'), headers: { 'Cache-Control': { description: '`no-cache`', required: true } } }, 304: notModified, 503: notBuilt },
  },
  {
    method: 'get', path: '/console/assets/:asset', operationId: 'getConsoleAsset', tag: 'meta', auth: 'none',
    summary: "The console's scripts and styles, named by their content: kept a year",
    params: z.object({ asset: z.string().describe('A file name such as `index-3f2a1b.js`') }),
    responses: {
      200: { description: 'The file', contentType: '*/*', headers: { 'Cache-Control': { description: '`public, max-age=31536000, immutable`', required: true } } },
      304: notModified,
      404: { description: 'No such file', contentType: 'application/problem+json', schema: Problem },
      503: notBuilt,
    },
  },
  {
    method: 'get', path: JWKS_PATH, operationId: 'getJwks', tag: 'meta', auth: 'none',
    summary: "The public keys that verify dealstream's own tokens (JWKS); clients may keep them 5 minutes",
    responses: { 200: { description: 'The key set', schema: Jwks, headers: { 'Cache-Control': { description: '`public, max-age=300`', required: true } } } },
  },
  {
    method: 'get', path: QUEUE_DASHBOARD_PATH, operationId: 'getQueueDashboard', tag: 'admin', auth: 'basic',
    summary: 'The job queues in a browser (bull-board): waiting, active, failed and dead-lettered jobs, with retry and pause',
    description:
      "Admins only. A browser signs in with HTTP Basic: any user name, an admin's API key as the password. Everything below this path (the " +
      "dashboard's files and its own JSON API) belongs to bull-board and is not part of this contract; requests that change anything " +
      'there must come from the dashboard\'s own pages (Sec-Fetch-Site or Origin) and carry JSON, else 403 `CROSS_SITE_REQUEST`.',
    responses: { 200: html('The dashboard') },
  },
];
