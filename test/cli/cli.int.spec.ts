import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { eventually } from '../support/async.js';
import { TEST_SERVER_URL, adminQuery, dropDatabase, withDatabase } from '../support/database.js';

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function dealstream(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

describe('dealstream CLI', function () {
  this.timeout(60_000);
  const database = `dealstream_cli_${randomBytes(4).toString('hex')}`;
  const env = { DATABASE_URL: withDatabase(TEST_SERVER_URL, database) };

  after(() => dropDatabase(database));

  it('migrate creates the database and applies the migrations, once', async () => {
    const first = dealstream(['migrate'], env);
    expect(await first.exit, first.stderr()).to.equal(0);
    expect(first.stderr()).to.match(/created database/).and.match(/applied migrations/);
    const again = dealstream(['migrate'], env);
    expect(await again.exit).to.equal(0);
    expect(again.stderr()).to.match(/schema is up to date/);
    const { rows } = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    expect(rows).to.have.length(1);
  });

  it('all serves the API on PORT and stops cleanly on SIGTERM', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const run = dealstream(['all'], { ...env, PORT: String(port) });
    await eventually(() => /api listening/.test(run.stderr()) || run.child.exitCode !== null, 30_000, 'the API to listen');
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(res.status).to.equal(200);
    run.child.kill('SIGTERM');
    expect(await run.exit, run.stderr()).to.equal(0);
    expect(run.stderr()).to.match(/"stopped"/);
    expect(run.stdout(), 'logs go to stderr; stdout stays free for command output').to.equal('');
  });

  it('stops at start-up with one clear message naming a bad setting', async () => {
    const run = dealstream(['api'], { ...env, PORT: 'abc' });
    expect(await run.exit).to.equal(2);
    expect(run.stderr().trim()).to.equal('dealstream: Invalid configuration: PORT: must be an integer from 0 to 65535 (got "abc")');
  });

  it('says what to do when PostgreSQL cannot be reached', async () => {
    const run = dealstream(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/dealstream' });
    expect(await run.exit).to.equal(1);
    expect(run.stderr()).to.match(/cannot connect to 127\.0\.0\.1:1.*is PostgreSQL running/);
  });
});
