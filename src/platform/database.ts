import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { silentLogger, type Logger } from './logger.js';

/** Transactions left idle hold back every subscriber of the PostgreSQL store, so they are cut short. */
export const SESSION_OPTIONS = '-c idle_in_transaction_session_timeout=60000';

/**
 * knex's word on each connection it could not make or lost: the query that needed it fails with
 * the same error, and its caller reports the outage (once per interval, see OutageLog).
 */
const CONNECTION_NOISE = /^(Acquire connection error|Connection Error): /;

/** knex for migrations and read models; its own warnings go to our logger rather than the console. */
export function createKnex(connectionString: string, max = 10, logger: Logger = silentLogger()): Knex {
  return knexFactory({
    client: 'pg',
    connection: { connectionString, application_name: 'dealstream-knex', options: SESSION_OPTIONS },
    pool: { min: 0, max },
    log: {
      warn: (message: unknown) => logger.log(typeof message === 'string' && CONNECTION_NOISE.test(message) ? 'debug' : 'warn', 'knex', { message }),
      error: (message: unknown) => logger.error('knex', { message }),
      deprecate: (method: string, alternative: string) => logger.warn('knex deprecation', { method, alternative }),
      debug: (message: unknown) => logger.debug('knex', { message }),
    },
  });
}

/**
 * Migrations sit beside src/ in the source tree (.ts, run through tsx) and in dist/ (.js). Their
 * recorded names leave out the extension, so either tree can migrate the same database.
 */
const here = fileURLToPath(import.meta.url);
const migrationsDirectory = path.resolve(path.dirname(here), '../../migrations');
const migrationExtension = path.extname(here);

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () =>
    (await readdir(migrationsDirectory)).filter((file) => file.endsWith(migrationExtension) && !file.endsWith('.d.ts')).sort(),
  getMigrationName: (file) => file.slice(0, -migrationExtension.length),
  getMigration: (file) => import(pathToFileURL(path.join(migrationsDirectory, file)).href) as Promise<Knex.Migration>,
};

/** The migrations not applied yet (none once `migrate` has run). */
export async function pendingMigrations(knex: Knex): Promise<string[]> {
  const [, pending] = (await knex.migrate.list({ migrationSource })) as [unknown[], string[]];
  return pending.map((file) => migrationSource.getMigrationName(file));
}

/** Applies every pending migration; returns the names it applied. */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

/** Creates the database named in the connection string if it does not exist yet. */
export async function ensureDatabase(connectionString: string): Promise<boolean> {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return false;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '42P04') return false; // created meanwhile by another process
    throw error;
  } finally {
    await client.end();
  }
}
