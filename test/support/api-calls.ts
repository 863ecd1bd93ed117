import { expect } from 'chai';
import type { Express } from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import type { Role } from '../../src/auth/principal.js';
import { createApiKey } from './principals.js';

/** One API key per name, with the role given: the keys by name. */
export async function createKeys(knex: Knex, roles: Record<string, Role>): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  for (const [name, role] of Object.entries(roles)) keys[name] = (await createApiKey(knex, name, role)).key;
  return keys;
}

/**
 * Sends commands over HTTP as one of the keys; a command that does not succeed fails the test.
 * Resolves with the id of what it created (from Location), if anything.
 */
export function commandsOver(app: () => Express, keys: Record<string, string>) {
  return async (path: string, body: object, who: string): Promise<string | undefined> => {
    const res = await request(app()).post(path).set({ authorization: `Bearer ${keys[who]}` }).send(body);
    expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
    return res.headers.location?.split('/').pop();
  };
}
