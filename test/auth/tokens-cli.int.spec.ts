import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { TokenVerifier } from '../../src/auth/tokens/token-verifier.js';
import { loadConfig } from '../../src/platform/config.js';
import { createKnex } from '../../src/platform/database.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { spawnDealstream } from '../support/processes.js';
import { patient } from '../support/async.js';

describe('dealstream tokens (CLI)', function () {
  this.timeout(patient(90_000));
  let db: TestDatabase;
  let knex: Knex;
  let env: Record<string, string>;

  before(async () => {
    db = await createTestDatabase('dealstream_tokens_cli');
    knex = createKnex(db.url, 2);
    // A key of the test's own: the CLI writes no key file into the working tree.
    env = { DATABASE_URL: db.url, SECRETS_KEY: `cli:${randomBytes(32).toString('base64')}`, NODE_ENV: 'test' };
  });
  after(async () => {
    await knex.destroy();
    await db.drop();
  });

  async function cli(args: string[], extraEnv: Record<string, string> = {}) {
    const run = spawnDealstream(['tokens', ...args], { ...env, ...extraEnv });
    const code = await run.exit;
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  }

  const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;

  it('issues a token, printed alone on stdout, that the verifier accepts; rotate-key signs later ones with a new key', async () => {
    const issued = await cli(['issue', '--sub', 'carol', '--role', 'operator', '--role', 'auditor', '--name', 'Carol', '--ttl', '10m']);
    expect(issued.code, issued.stderr).to.equal(0);
    expect(issued.stdout).to.match(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = issued.stdout.trim();

    const verifier = new TokenVerifier(knex, loadConfig({}), { keyReloadIntervalMs: 100 });
    const identity = await verifier.verify(token);
    expect(identity).to.deep.include({ issuer: 'dealstream', subject: 'carol', roles: ['operator', 'auditor'], name: 'Carol' });
    expect(identity.expiresAt!.getTime() - Date.now()).to.be.within(9 * 60_000, 10 * 60_000);

    const rotated = await cli(['rotate-key']);
    expect(rotated.code, rotated.stderr).to.equal(0);
    expect(rotated.stdout).to.equal('');
    expect(rotated.stderr).to.include(`retired ${kidOf(token)}`);

    const next = await cli(['issue', '--sub', 'carol', '--role', 'operator']);
    expect(next.code, next.stderr).to.equal(0);
    const nextToken = next.stdout.trim();
    expect(kidOf(nextToken)).to.not.equal(kidOf(token));
    expect((await verifier.verify(nextToken)).subject, 'the new key is loaded when a token names it').to.equal('carol');
    expect((await verifier.verify(token)).subject, 'the old key still verifies its tokens').to.equal('carol');
  });

  it('refuses bad options on stderr, printing nothing', async () => {
    for (const [args, message] of [
      [['--ttl', '90d'], /ttl: must be from 1 s to 30 days/],
      [['--ttl', 'soon'], /ttl: "soon" is not a duration/],
      [['--sub', 'carol smith'], /--sub: must be 1 to 128 letters, digits/],
    ] as const) {
      const run = await cli(['issue', '--sub', 'carol', '--role', 'operator', ...args]);
      expect(run.code, 'a usage error').to.equal(2);
      expect(run.stdout).to.equal('');
      expect(run.stderr).to.match(message);
    }
    // commander's own refusals (exit code 1)
    for (const [args, message] of [
      [['--sub', 'carol', '--role', 'root'], /argument 'root' is invalid/],
      [['--role', 'operator'], /required option '--sub <sub>' not specified/],
    ] as const) {
      const run = await cli(['issue', ...args]);
      expect(run.code).to.not.equal(0);
      expect(run.stdout).to.equal('');
      expect(run.stderr).to.match(message);
    }
  });

  it('refuses to sign in production without SECRETS_KEY', async () => {
    const run = await cli(['issue', '--sub', 'carol', '--role', 'operator'], { NODE_ENV: 'production', SECRETS_KEY: '' });
    expect(run.code).to.equal(2);
    expect(run.stdout).to.equal('');
    expect(run.stderr).to.match(/SECRETS_KEY is required when NODE_ENV=production/);
  });
});
