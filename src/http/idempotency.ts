import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Knex } from 'knex';

export interface StoredResponse {
  requestHash: string;
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/** What makes two requests "the same": method, path and body (as canonical JSON: key order does not count). */
export function requestHash(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonicalize(body ?? null)}`).digest('hex');
}

export async function findResponse(knex: Knex, principalId: string, key: string): Promise<StoredResponse | undefined> {
  const row = await knex('idempotency_keys').where({ principal_id: principalId, key }).first();
  return row && { requestHash: row.request_hash, status: row.status, body: row.body, headers: row.headers };
}

/** Keeps the first response for a key; a concurrent twin stored the same one (same derived events). */
export async function saveResponse(knex: Knex, principalId: string, key: string, response: StoredResponse): Promise<void> {
  await knex('idempotency_keys')
    .insert({
      principal_id: principalId,
      key,
      request_hash: response.requestHash,
      status: response.status,
      body: JSON.stringify(response.body),
      headers: JSON.stringify(response.headers),
    })
    .onConflict(['principal_id', 'key'])
    .ignore();
}
