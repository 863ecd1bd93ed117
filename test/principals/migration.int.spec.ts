import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { hashApiKey, principalForKey } from '../../src/auth/api-keys.js';
import { principalStreamId } from '../../src/domain/principals/principal.events.js';
import type { EventStore } from '../../src/eventstore/contract.js';
import { createKnex, migrateLatest, migrationSource, pendingMigrations } from '../../src/platform/database.js';
import { silentLogger } from '../../src/platform/logger.js';
import { recordMigratedPrincipals } from '../../src/principals/record-migrated.js';
import { collect } from '../support/async.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestEventStore } from '../support/event-store.js';

/** A database as it was before principals, with keys in it, migrated to principals. */
describe('principals: keys of the time before them', () => {
  let db: TestDatabase;
  let knex: Knex;
  let store: EventStore;
  let closeStore: () => Promise<void>;
  const ids = { alice: randomUUID(), bobOld: randomUUID(), bobNew: randomUUID(), carol: randomUUID() };

  before(async () => {
    db = await createTestDatabase('dealstream_legacy', { migrate: false });
    knex = createKnex(db.url, 2);
    while (!(await pendingMigrations(knex))[0]?.endsWith('_principals')) await knex.migrate.up({ migrationSource });
    await knex('api_keys').insert([
      { id: ids.alice, name: 'alice', role: 'approver', key_hash: hashApiKey('ds_alice'), created_at: '2026-11-01T00:00:00Z' },
      { id: ids.bobOld, name: 'bob', role: 'operator', key_hash: hashApiKey('ds_bob_old'), created_at: '2026-11-02T00:00:00Z', revoked_at: '2026-11-03T00:00:00Z' },
      { id: ids.bobNew, name: 'bob', role: 'agent', key_hash: hashApiKey('ds_bob_new'), created_at: '2026-11-04T00:00:00Z' },
      { id: ids.carol, name: 'carol', role: 'integration', key_hash: hashApiKey('ds_carol'), created_at: '2026-11-05T00:00:00Z' },
    ]);
    await knex('idempotency_keys').insert({ api_key_id: ids.alice, key: 'k1', request_hash: 'h', status: 200, body: '{}', headers: '{}' });
    await knex('webhook_subscriptions').insert({ id: randomUUID(), url: 'http://127.0.0.1:9/', secret: 'whsec_x', filter: '{}', state: 'active', created_by: 'carol' });
    await migrateLatest(knex);
    ({ store, close: closeStore } = await startTestEventStore(db.url));
  });
  after(async () => {
    await closeStore();
    await knex.destroy();
    await db.drop();
  });

  it("makes each key name a principal whose id is that name (the actor the log already records), with its live key's role", async () => {
    const principals = await knex('principals').orderBy('id').select('id', 'kind', 'name', 'roles', 'recorded');
    expect(principals).to.deep.equal([
      { id: 'alice', kind: 'user', name: 'alice', roles: ['approver'], recorded: false },
      { id: 'bob', kind: 'agent', name: 'bob', roles: ['agent'], recorded: false },
      { id: 'carol', kind: 'integration', name: 'carol', roles: ['integration'], recorded: false },
    ]);
    expect((await principalForKey(knex, 'ds_alice'))!.principal).to.deep.include({ id: 'alice', roles: ['approver'] });
    expect(await principalForKey(knex, 'ds_bob_old')).to.equal(undefined);
    expect((await knex('idempotency_keys').first()).principal_id).to.equal('alice');
    expect((await knex('webhook_subscriptions').first()).owner_id).to.equal('carol');
  });

  it('records their history in the log once, however often processes start', async () => {
    await Promise.all([recordMigratedPrincipals({ knex, eventStore: store }, silentLogger()), recordMigratedPrincipals({ knex, eventStore: store }, silentLogger())]);
    await recordMigratedPrincipals({ knex, eventStore: store }, silentLogger());
    const bob = await collect(store.readStream(principalStreamId('bob')));
    expect(bob.map((e) => e.type)).to.deep.equal(['PrincipalCreated', 'ApiKeyIssued', 'ApiKeyRevoked', 'ApiKeyIssued']);
    expect(bob[0]!.data).to.deep.include({ principalId: 'bob', kind: 'agent', roles: ['agent'], migrated: true });
    expect(bob.map((e) => e.data.keyId)).to.deep.equal([undefined, ids.bobOld, ids.bobOld, ids.bobNew]);
    expect(bob[0]!.metadata.actor).to.deep.equal({ kind: 'system', id: 'migration' });
    expect(await knex('principals').where({ recorded: false }).count({ n: '*' })).to.deep.equal([{ n: '0' }]);
    expect((await principalForKey(knex, 'ds_bob_new'))!.principal.id).to.equal('bob');
  });
});
