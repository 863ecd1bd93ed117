import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { eventually } from './async.js';
import { freePort } from './private-redis.js';

const run = promisify(execFile);

export interface PrivatePostgres {
  /** The server's `postgres` database (connect as postgres, no password). */
  url: string;
  port: number;
  start(): Promise<void>;
  /** `pg_ctl stop -m fast`: open sessions are terminated (57P01), new ones refused. */
  stop(): Promise<void>;
  /** Stops the server and deletes its cluster. */
  destroy(): Promise<void>;
}

/**
 * The folder holding initdb and pg_ctl: PG_BIN_DIR, else the newest /usr/lib/postgresql/<v>/bin
 * (Debian and Ubuntu), else none (the caller skips, saying why).
 */
export function postgresBinaries(): string | undefined {
  const candidates = process.env.PG_BIN_DIR
    ? [process.env.PG_BIN_DIR]
    : existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql')
          .filter((version) => /^\d+$/.test(version))
          .sort((a, b) => Number(b) - Number(a))
          .map((version) => `/usr/lib/postgresql/${version}/bin`)
      : [];
  return candidates.find((dir) => existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl')));
}

/**
 * A PostgreSQL cluster of the test's own on a free port, to stop and start again (never the shared
 * server). PostgreSQL refuses to run as root, so as root (here and in CI) its programs run as the
 * `postgres` user, in a folder that user owns.
 */
export async function startPrivatePostgres(binaries: string): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'dealstream-pg-'));
  const data = path.join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const pgRun = (program: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(binaries, program), ...args]) : run(path.join(binaries, program), args);

  // No fsync: the test stops the server cleanly, and the shared machine's disk is spared.
  await pgRun('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const settings = [`-p ${port}`, "-c listen_addresses='127.0.0.1'", `-c unix_socket_directories='${dir}'`, '-c fsync=off', '-c max_connections=100'].join(' ');
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const server: PrivatePostgres = {
    url,
    port,
    async start() {
      await pgRun('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', settings, '-w', '-t', '60', 'start']);
      await eventually(async () => {
        const client = new pg.Client({ connectionString: url });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } catch {
          return false;
        } finally {
          await client.end().catch(() => undefined);
        }
      }, 30_000, 'the private PostgreSQL');
    },
    async stop() {
      await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    },
    async destroy() {
      await pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined); // already stopped is fine
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
