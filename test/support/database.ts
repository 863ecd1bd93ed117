import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createKnex, migrateLatest } from '../../src/platform/database.js';

/** The server tests run against; each test file creates and drops its own database on it. */
export const TEST_SERVER_URL = process.env.TEST_DATABASE_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database with a unique name. */
export async function createTestDatabase(prefix = 'dealstream_test'): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const url = withDatabase(TEST_SERVER_URL, name);
  const knex = createKnex(url, 2);
  try {
    await migrateLatest(knex);
  } finally {
    await knex.destroy();
  }
  return {
    url,
    name,
    drop: async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    },
  };
}

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = '/' + database;
  return url.toString();
}

export async function adminQuery(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: TEST_SERVER_URL });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}
