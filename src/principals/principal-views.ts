import type { Knex } from 'knex';
import { iso, keysetPage, type Page } from '../queries/pagination.js';

export interface KeyView {
  id: string;
  name: string;
  status: 'active' | 'expired' | 'revoked';
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface PrincipalView {
  id: string;
  kind: string;
  name: string;
  roles: string[];
  agentId: string | null;
  /** A person first seen through a token: who vouched for them, and as whom. */
  issuer: string | null;
  subject: string | null;
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
}

const COLUMNS = ['id', 'kind', 'name', 'roles', 'agent_id', 'issuer', 'subject', 'disabled_at', 'created_at', 'updated_at'];

export async function listPrincipals(knex: Knex, query: { kind?: string; limit: number; cursor?: [string, string] }): Promise<Page<PrincipalView>> {
  const rows = knex('principals').select(COLUMNS);
  if (query.kind) rows.where('kind', query.kind);
  const page = await keysetPage<Record<string, unknown>>(rows, {
    sort: 'id', tiebreak: 'id', direction: 'asc', limit: query.limit, keys: ['id', 'id'], ...(query.cursor ? { cursor: query.cursor } : {}),
  });
  return { items: page.items.map(principalView), nextCursor: page.nextCursor };
}

/** One principal with its keys, newest first; undefined when there is none. */
export async function findPrincipal(knex: Knex, id: string): Promise<(PrincipalView & { keys: KeyView[] }) | undefined> {
  const row = await knex('principals').select(COLUMNS).where({ id }).first();
  if (!row) return undefined;
  const keys = await knex('api_keys')
    .select('id', 'name', 'created_at', 'expires_at', 'last_used_at', 'revoked_at', knex.raw('expires_at <= now() AS expired'))
    .where({ principal_id: id })
    .orderBy([{ column: 'created_at', order: 'desc' }, 'id']);
  return { ...principalView(row), keys: keys.map(keyView) };
}

function principalView(row: Record<string, unknown>): PrincipalView {
  return {
    id: row.id as string,
    kind: row.kind as string,
    name: row.name as string,
    roles: row.roles as string[],
    agentId: (row.agent_id as string | null) ?? null,
    issuer: (row.issuer as string | null) ?? null,
    subject: (row.subject as string | null) ?? null,
    disabledAt: iso(row.disabled_at),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

function keyView(row: Record<string, unknown>): KeyView {
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
