import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { PRINCIPAL_KINDS, ROLES, type Principal } from '../auth/principal.js';
import { commandMetadata, requireJson } from '../http/command-route.js';
import { requireRole } from '../http/auth.js';
import type { DescribedRoute } from '../http/openapi.js';
import { HttpProblem } from '../http/problem.js';
import { Limit, cursorOf, pageOf } from '../queries/pagination.js';
import {
  changeRoles,
  createPrincipal,
  disablePrincipal,
  enablePrincipal,
  issueApiKey,
  revokeApiKey,
  type LifecycleDeps,
} from './principal-lifecycle.js';
import { PrincipalView, PrincipalWithKeys, findPrincipal, listPrincipals } from './principal-views.js';

export const PrincipalId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, 'must be 1 to 128 letters, digits, ".", "_", "-" or "@", starting with a letter or digit');
const Name = z.string().trim().min(1).max(200);
const Roles = z.array(z.enum(ROLES)).min(1, 'must name at least one role').max(ROLES.length);

export const CreatePrincipalBody = z
  .strictObject({ id: PrincipalId.optional(), kind: z.enum(PRINCIPAL_KINDS), name: Name, roles: Roles, agentId: z.uuid().optional() })
  .refine((body) => !body.agentId || body.kind === 'agent', { path: ['agentId'], message: 'only an agent principal acts for an agent' });
const RolesBody = z.strictObject({ roles: Roles });
const DisableBody = z.strictObject({ reason: z.string().trim().max(2000).optional() });
export const IssueKeyBody = z.strictObject({ name: Name, expiresAt: z.iso.datetime({ offset: true }).nullable().default(null) });
const ListQuery = z.strictObject({
  kind: z.enum(PRINCIPAL_KINDS).optional(),
  limit: Limit,
  cursor: cursorOf(z.tuple([z.string(), z.string()])).optional().describe('A `nextCursor` from a previous page'),
});

/** Who the caller is, and how they proved it on this request. */
const Me = z.object({
  id: z.string(),
  kind: z.enum(PRINCIPAL_KINDS),
  name: z.string(),
  roles: z.array(z.enum(ROLES)),
  agentId: z.uuid().nullable().describe('The agent an agent principal acts for (its runs only); null: none'),
  credential: z.discriminatedUnion('type', [
    z.object({ type: z.literal('api_key'), keyId: z.uuid() }),
    z.object({ type: z.literal('token'), issuer: z.string().describe("The token's issuer") }),
  ]),
});
const Principals = pageOf(PrincipalView);
const IssuedKey = z.object({
  id: z.uuid(),
  name: z.string(),
  key: z.string().describe('The key itself: shown only here, never again'),
  expiresAt: z.iso.datetime({ offset: true }).nullable(),
});

const ADMIN = ['admin'];
const PRINCIPALS = '/principals';
/** A principal's lifecycle is commands on its stream: a rule may refuse one, or the stream be contended. */
/** A principal's id is its own text (`alice`, `svc.crm`), not a UUID. */
const PrincipalParams = z.object({ id: PrincipalId });
const REFUSED = { 409: 'Refused by a rule (see `code`: `PRINCIPAL.ALREADY_EXISTS`, `PRINCIPAL.DISABLED`, `PRINCIPAL.SELF_DISABLE`, ...), or `STREAM.CONTENDED`' };
/** For the OpenAPI document. */
export const PRINCIPALS_API: readonly DescribedRoute[] = [
  { method: 'get', path: '/me', summary: 'Who the caller is: principal id, kind, name, roles, and how they signed in', roles: 'every', success: { schema: Me } },
  { method: 'get', path: PRINCIPALS, summary: 'Principals (people, agents, integrations), by id', roles: ADMIN, query: ListQuery, success: { schema: Principals } },
  { method: 'post', path: PRINCIPALS, summary: 'Create a principal; its creation is an event', roles: ADMIN, body: CreatePrincipalBody, success: { status: 201, description: 'Created', schema: PrincipalWithKeys }, problems: REFUSED },
  { method: 'get', path: `${PRINCIPALS}/:id`, summary: 'One principal with its keys (never their secrets): status, expiry, last use', roles: ADMIN, params: PrincipalParams, success: { schema: PrincipalWithKeys } },
  { method: 'post', path: `${PRINCIPALS}/:id/roles`, summary: "Replace a principal's roles", roles: ADMIN, params: PrincipalParams, body: RolesBody, success: { schema: PrincipalWithKeys }, problems: REFUSED },
  { method: 'post', path: `${PRINCIPALS}/:id/disable`, summary: 'Disable a principal: every credential of it is refused from the next request on', roles: ADMIN, params: PrincipalParams, body: DisableBody, success: { schema: PrincipalWithKeys }, problems: REFUSED },
  { method: 'post', path: `${PRINCIPALS}/:id/enable`, summary: 'Enable a disabled principal again', roles: ADMIN, params: PrincipalParams, success: { schema: PrincipalWithKeys }, problems: REFUSED },
  { method: 'post', path: `${PRINCIPALS}/:id/keys`, summary: 'Issue an API key, with an optional expiry; the answer holds the key, once', roles: ADMIN, params: PrincipalParams, body: IssueKeyBody, success: { status: 201, description: 'Created', schema: IssuedKey }, problems: REFUSED },
  { method: 'post', path: `${PRINCIPALS}/:id/keys/:keyId/revoke`, summary: 'Revoke a key: refused from the next request on, in every API process', roles: ADMIN, params: PrincipalParams, success: { schema: PrincipalWithKeys }, problems: REFUSED },
];

/** `/api/me` for everyone, and the admins' management of principals and their keys. */
export function principalRoutes(deps: LifecycleDeps): Router {
  const router = Router();
  router.get('/me', (_req, res) => {
    const { credential, ...principal } = res.locals.principal as Principal;
    const me: z.input<typeof Me> = {
      ...principal,
      roles: [...principal.roles],
      agentId: principal.agentId ?? null,
      credential: credential.type === 'api-key' ? { type: 'api_key', keyId: credential.id } : credential,
    };
    res.json(me);
  });

  const admin = Router();
  router.use(PRINCIPALS, requireRole('admin'), requireJson, admin);
  admin.param('id', (_req, _res, next, id: string) => next(PrincipalId.safeParse(id).success ? undefined : notFound(id)));

  admin.get('/', async (req, res) => {
    const page: z.input<typeof Principals> = await listPrincipals(deps.knex, ListQuery.parse(req.query));
    res.json(page);
  });
  admin.post('/', async (req, res) => {
    const body = CreatePrincipalBody.parse(req.body ?? {});
    const created = await createPrincipal(deps, body, metadataOf(req, res));
    res.status(201).location(`${req.baseUrl}/${encodeURIComponent(created.principalId)}`).json(await view(deps, created.principalId));
  });
  admin.get('/:id', async (req, res) => {
    res.json(await view(deps, req.params.id));
  });
  admin.post('/:id/roles', async (req, res) => {
    const { roles } = RolesBody.parse(req.body ?? {});
    await changeRoles(deps, req.params.id, roles, metadataOf(req, res));
    res.json(await view(deps, req.params.id));
  });
  admin.post('/:id/disable', async (req, res) => {
    const { reason } = DisableBody.parse(req.body ?? {});
    await disablePrincipal(deps, req.params.id, reason, metadataOf(req, res));
    res.json(await view(deps, req.params.id));
  });
  admin.post('/:id/enable', async (req, res) => {
    await enablePrincipal(deps, req.params.id, metadataOf(req, res));
    res.json(await view(deps, req.params.id));
  });
  admin.post('/:id/keys', async (req, res) => {
    const body = IssueKeyBody.parse(req.body ?? {});
    const issued = await issueApiKey(deps, req.params.id, body, metadataOf(req, res));
    const key: z.input<typeof IssuedKey> = { id: issued.keyId, name: issued.name, key: issued.key, expiresAt: issued.expiresAt };
    res.status(201).set('Cache-Control', 'no-store').json(key);
  });
  admin.post('/:id/keys/:keyId/revoke', async (req, res) => {
    if (!z.uuid().safeParse(req.params.keyId).success) throw keyNotFound();
    await revokeApiKey(deps, req.params.id, req.params.keyId, metadataOf(req, res));
    res.json(await view(deps, req.params.id));
  });
  return router;
}

function metadataOf(req: Request, res: Response) {
  return commandMetadata(req, res.locals.principal as Principal);
}

async function view(deps: LifecycleDeps, id: string): Promise<z.input<typeof PrincipalWithKeys>> {
  const found = await findPrincipal(deps.knex, id);
  if (!found) throw notFound(id);
  return found;
}

function notFound(id: string): HttpProblem {
  return new HttpProblem('PRINCIPAL.NOT_FOUND', `No principal ${id}`);
}

function keyNotFound(): HttpProblem {
  return new HttpProblem('PRINCIPAL.KEY_NOT_FOUND', 'No such key');
}
