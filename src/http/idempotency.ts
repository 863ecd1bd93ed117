import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Knex } from 'knex';

export interface StoredResponse {
  requestHash: string;
  status: number;
  /** The body as it was sent, so that a repeat answers the same bytes. */
  body: string;
  /** In the order they were set. */
  headers: Record<string, string>;
}

/** What makes two requests "the same": method, path and body (as canonical JSON: key order does not count). */
export function requestHash(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonicalize(body ?? null)}`).digest('hex');
}

export async function findResponse(knex: Knex, principalId: string, key: string): Promise<StoredResponse | undefined> {
  const row = await knex('idempotency_keys').where({ principal_id: principalId, key }).first();
  if (!row) return undefined;
  // Rows stored before body_text hold the body as jsonb (its key order lost), and headers as an object.
  const headers: Record<string, string> = Array.isArray(row.headers) ? Object.fromEntries(row.headers) : row.headers;
  return { requestHash: row.request_hash, status: row.status, body: row.body_text ?? JSON.stringify(row.body), headers };
}

/** Keeps the first response for a key; a concurrent twin stored the same one (same derived events). */
export async function saveResponse(knex: Knex, principalId: string, key: string, response: StoredResponse): Promise<void> {
  await knex('idempotency_keys')
    .insert({
      principal_id: principalId,
      key,
      request_hash: response.requestHash,
      status: response.status,
      body_text: response.body,
      // As [name, value] pairs: a jsonb object would not keep their order.
      headers: JSON.stringify(Object.entries(response.headers)),
    })
    .onConflict(['principal_id', 'key'])
    .ignore();
}
