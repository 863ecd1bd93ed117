import type { Knex } from 'knex';
import { z } from 'zod';
import { PRINCIPAL_KINDS, ROLES } from '../auth/principal.js';
import { iso, keysetPage, type Page } from '../queries/pagination.js';

export const KeyView = z.object({
  id: z.uuid(),
  name: z.string(),
  status: z.enum(['active', 'expired', 'revoked']),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime().nullable().describe('Null: it never expires'),
  lastUsedAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
});
export type KeyView = z.infer<typeof KeyView>;

export const PrincipalView = z.object({
  id: z.string(),
  kind: z.enum(PRINCIPAL_KINDS),
  name: z.string(),
  roles: z.array(z.enum(ROLES)),
  agentId: z.uuid().nullable().describe('The agent an agent principal acts for; null: none'),
  issuer: z.string().nullable().describe('A person first seen through a token: the issuer that vouched for them'),
  subject: z.string().nullable().describe("…and the token's subject"),
  disabledAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type PrincipalView = z.infer<typeof PrincipalView>;

/** One principal, with its keys (never their secrets), newest first. */
export const PrincipalWithKeys = PrincipalView.extend({ keys: z.array(KeyView) });

const COLUMNS = ['id', 'kind', 'name', 'roles', 'agent_id', 'issuer', 'subject', 'disabled_at', 'created_at', 'updated_at'];

export async function listPrincipals(knex: Knex, query: { kind?: string; limit: number; cursor?: [string, string] }): Promise<Page<z.input<typeof PrincipalView>>> {
  const rows = knex('principals').select(COLUMNS);
  if (query.kind) rows.where('kind', query.kind);
  const page = await keysetPage<Record<string, unknown>>(rows, {
    sort: 'id', tiebreak: 'id', direction: 'asc', limit: query.limit, keys: ['id', 'id'], ...(query.cursor ? { cursor: query.cursor } : {}),
  });
  return { items: page.items.map(principalView), nextCursor: page.nextCursor };
}

/** One principal with its keys, newest first; undefined when there is none. */
export async function findPrincipal(knex: Knex, id: string): Promise<z.input<typeof PrincipalWithKeys> | undefined> {
  const row = await knex('principals').select(COLUMNS).where({ id }).first();
  if (!row) return undefined;
  const keys = await knex('api_keys')
    .select('id', 'name', 'created_at', 'expires_at', 'last_used_at', 'revoked_at', knex.raw('expires_at <= now() AS expired'))
    .where({ principal_id: id })
    .orderBy([{ column: 'created_at', order: 'desc' }, 'id']);
  return { ...principalView(row), keys: keys.map(keyView) };
}

function principalView(row: Record<string, unknown>): z.input<typeof PrincipalView> {
  return {
    id: row.id as string,
    kind: row.kind as PrincipalView['kind'],
    name: row.name as string,
    roles: row.roles as PrincipalView['roles'],
    agentId: (row.agent_id as string | null) ?? null,
    issuer: (row.issuer as string | null) ?? null,
    subject: (row.subject as string | null) ?? null,
    disabledAt: iso(row.disabled_at),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

function keyView(row: Record<string, unknown>): z.input<typeof KeyView> {
  return {
    id: row.id as string,
    name: row.name as string,
    status: row.revoked_at ? 'revoked' : row.expired ? 'expired' : 'active',
    createdAt: iso(row.created_at)!,
    expiresAt: iso(row.expires_at),
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}
