import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createKnex, migrateLatest } from '../../src/platform/database.js';
import { ensureProjections } from '../../src/projections/index.js';

/** The server tests run against; each test file creates and drops its own database on it. */
export const TEST_SERVER_URL = process.env.TEST_DATABASE_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh database with a unique name, migrated unless asked not to be. */
export async function createTestDatabase(prefix = 'dealstream_test', options = { migrate: true }): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const url = withDatabase(TEST_SERVER_URL, name);
  if (options.migrate) {
    const knex = createKnex(url, 2);
    try {
      await migrateLatest(knex);
      await ensureProjections(knex);
    } finally {
      await knex.destroy();
    }
  }
  return {
    url,
    name,
    drop: () => dropDatabase(name),
  };
}

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = '/' + database;
  return url.toString();
}

export async function adminQuery(sql: string, values: unknown[] = [], database?: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: database ? withDatabase(TEST_SERVER_URL, database) : TEST_SERVER_URL });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

/**
 * Drops a test database. Connections closed a moment ago may still be on their way out; they get
 * that moment, since forcing them out can surface as an error in a client that is just closing.
 */
export async function dropDatabase(name: string): Promise<void> {
  const sql = `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await adminQuery(sql);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006') throw error; // 55006: still in use
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await adminQuery(`${sql} WITH (FORCE)`);
}
