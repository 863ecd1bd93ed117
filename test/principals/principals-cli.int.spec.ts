import { expect } from 'chai';
import type { Knex } from 'knex';
import { principalForKey } from '../../src/auth/api-keys.js';
import { principalStreamId } from '../../src/domain/principals/principal.events.js';
import { createKnex } from '../../src/platform/database.js';
import { collect, patient } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestEventStore, type TestEventStore } from '../support/event-store.js';
import { spawnDealstream } from '../support/processes.js';

describe('principals: the CLI', function () {
  this.timeout(patient(120_000));
  let db: TestDatabase;
  let knex: Knex;
  let store: TestEventStore;
  let env: Record<string, string>;

  before(async () => {
    db = await createTestDatabase();
    knex = createKnex(db.url, 2);
    store = await startTestEventStore(db.url);
    env = { DATABASE_URL: db.url, ...store.env };
  });
  after(async () => {
    await store.close();
    await knex.destroy();
    await db.drop();
  });

  const cli = async (...args: string[]) => {
    const run = spawnDealstream(args, env);
    return { code: await run.exit, stdout: run.stdout(), stderr: run.stderr() };
  };

  it('creates a principal, issues and lists its keys, changes its roles and disables it; each change is an event', async () => {
    const created = await cli('principals', 'create', '--kind', 'user', '--name', 'Alice', '--role', 'approver', '--id', 'alice');
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.equal('alice\n');
    const issued = await cli('keys', 'issue', '--principal', 'alice', '--name', 'laptop', '--expires-at', '2099-01-01T00:00:00Z');
    expect(issued.code, issued.stderr).to.equal(0);
    const key = issued.stdout.trim();
    expect(key).to.match(/^ds_/);
    expect((await principalForKey(knex, key))!.principal).to.deep.include({ id: 'alice', roles: ['approver'] });

    const listed = await cli('keys', 'list', '--principal', 'alice');
    expect(listed.stdout).to.match(/\tlaptop\talice\tapprover\t\S+\t2099-01-01T00:00:00.000Z\t\S+\tactive\n/).and.not.include(key);
    expect((await cli('principals', 'roles', 'alice', '--role', 'approver', 'operator')).code).to.equal(0);
    expect((await cli('principals', 'disable', 'alice', '--reason', 'left')).code).to.equal(0);
    expect(await principalForKey(knex, key)).to.equal(undefined);
    expect((await cli('principals', 'list')).stdout).to.match(/^alice\tuser\tAlice\tapprover,operator\t\tdisabled$/m);

    const events = await collect(store.store.readStream(principalStreamId('alice')));
    expect(events.map((e) => e.type)).to.deep.equal(['PrincipalCreated', 'ApiKeyIssued', 'PrincipalRolesChanged', 'PrincipalDisabled']);
    expect(events[0]!.metadata.actor).to.have.property('kind', 'system');
    expect((events[0]!.metadata.actor as { id: string }).id).to.match(/^cli:/);
  });

  it('refuses bad options with a message naming them (exit code 2)', async () => {
    const agentForUser = await cli('principals', 'create', '--kind', 'user', '--name', 'Bob', '--role', 'agent', '--agent', 'not-a-uuid');
    expect(agentForUser.code).to.equal(2);
    expect(agentForUser.stderr).to.include('agentId');
    const unknown = await cli('keys', 'revoke', 'nothing-by-that-name');
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include('no active key "nothing-by-that-name"');
  });
});
