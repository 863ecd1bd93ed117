import type { Server } from 'node:http';
import type { Knex } from 'knex';
import request from 'supertest';
import { ROLES, type Role } from '../../src/auth/principal.js';
import type { EventStore } from '../../src/eventstore/contract.js';
import { recordMigratedPrincipals } from '../../src/principals/record-migrated.js';
import { silentLogger } from '../../src/platform/logger.js';
import { collect } from '../support/async.js';
import { bindAgent, createApiKey } from '../support/principals.js';
import type { Ref } from './fuzz-values.js';
import { payloadOf } from '../support/action-payloads.js';

/**
 * A key per role, and pools of real ids (and positions) that requests name by index, newest first:
 * seeded, then grown by what successful requests create, so that later requests find objects in
 * every state (a run still running, an action still awaiting approval).
 */
export interface World {
  keys: Record<Role, string>;
  pools: Record<string, string[]>;
  resolve(ref: Ref): string;
  /** Takes in what an answer created (its Location, or a key's id) and a command's position; the agent key acts for the newest agent. */
  learn(url: string, answer: { status: number; location?: string; body: unknown }): Promise<void>;
}

/** What a Location names: `/api/agents/<agentId>/runs/<runId>` is a run, with its stream. */
const CREATED: [RegExp, (ids: string[]) => [pool: string, id: string, stream?: string]][] = [
  [/^\/api\/agents\/([^/]+)\/runs\/([^/]+)$/, ([agent, run]) => ['run', `${agent}/${run}`, `agent-${agent}-run-${run}`]],
  [/^\/api\/(deal|action|agent)s\/([^/]+)$/, ([kind, id]) => [kind!, id!, `${kind}-${id}`]],
  [/^\/api\/integrations\/webhooks\/([^/]+)$/, ([id]) => ['webhook', id!]],
  [/^\/api\/principals\/([^/]+)$/, ([id]) => ['principal', decodeURIComponent(id!)]],
];

const money = (amount: string) => ({ amount, currency: 'EUR' });

/**
 * Real objects for requests to reach past "not found": deals, an agent (the agent key acts for the
 * first) with runs, actions the agent proposed, a webhook subscription, and principals that only
 * the fuzzer's admin changes (never the fuzzer's own callers, which must keep working).
 */
export async function seedWorld(server: Server, knex: Knex, store: EventStore): Promise<World> {
  const keys = {} as Record<Role, string>;
  for (const role of ROLES) keys[role] = (await createApiKey(knex, `fuzz-${role}`, role)).key;
  const positions: string[] = [];
  const as = (role: Role) => ({ authorization: `Bearer ${keys[role]}` });
  /** A seeding step must work: the fuzz run needs what it makes. */
  const call = async (role: Role, path: string, body: object, expected = [200, 201]) => {
    const res = await request(server).post(path).set(as(role)).send(body);
    if (!expected.includes(res.status)) throw new Error(`seeding ${path} as ${role}: ${res.status} ${JSON.stringify(res.body)}`);
    if (typeof res.body.position === 'string') positions.push(res.body.position);
    return res;
  };
  const created = async (role: Role, path: string, body: object) => String((await call(role, path, body)).headers.location).split('/').pop()!;

  const agent = [
    await created('admin', '/api/agents', { name: 'fuzz agent', model: 'm', capabilities: ['search'], budget: money('1000') }),
    await created('admin', '/api/agents', { name: 'second agent', model: 'm' }),
  ];
  await bindAgent(knex, 'fuzz-agent', agent[0]!);
  const deal = [];
  for (const name of ['Acme', 'Globex', 'Initech']) deal.push(await created('operator', '/api/deals', { name, company: name, amount: money('250000'), tags: ['fuzz'] }));
  const action = [];
  // Each needs approval (none is low risk), as the proposals of unknown kinds this world began with did.
  for (const kind of ['send_email', 'assign_owner', 'change_stage', 'share_data_room'] as const) {
    action.push(await created('agent', '/api/actions', { dealId: deal[0], kind, title: kind, payload: payloadOf(kind) }));
  }
  const run = [];
  for (const goal of ['research', 'draft', 'summarise']) run.push(`${agent[0]}/${await created('agent', `/api/agents/${agent[0]}/runs`, { goal, dealId: deal[0] })}`);

  // Delivery is no part of this run (no workers); a guard that refuses the address is fine too.
  const subscribe = async () => {
    const hook = await request(server).post('/api/integrations/webhooks').set(as('integration')).send({ url: 'http://127.0.0.1:9/', from: 'start' });
    return hook.status === 201 ? [hook.body.id as string] : [];
  };
  const webhook = [...(await subscribe()), ...(await subscribe())];
  const doomedWebhook = [...(await subscribe()), ...(await subscribe()), ...(await subscribe())];

  const principal = ['fuzz-target-1', 'fuzz-target-2'];
  const key = [];
  for (const id of principal) {
    await call('admin', '/api/principals', { id, kind: 'user', name: id, roles: ['operator'] });
    key.push(`${id}/${(await call('admin', `/api/principals/${id}/keys`, { name: 'k' })).body.id as string}`);
  }
  // The callers' own principals get their history in the log now, not in the middle of the run.
  await recordMigratedPrincipals({ knex, eventStore: store }, silentLogger());

  const catalog = (await request(server).get('/api/integrations/event-types').set(as('auditor'))).body as { eventTypes: Record<string, { category: string }> };
  const stream = [...new Set((await collect(store.readAll({ from: 'start' }))).map((event) => event.streamId))];
  const pools: Record<string, string[]> = {
    deal,
    action,
    agent,
    run,
    webhook,
    'doomed-webhook': doomedWebhook,
    principal,
    key,
    stream,
    type: Object.keys(catalog.eventTypes),
    category: [...new Set(Object.values(catalog.eventTypes).map((entry) => entry.category))],
    caller: ROLES.map((role) => `fuzz-${role}`),
    position: positions.slice(-10),
  };
  return {
    keys,
    pools,
    resolve: (ref) => {
      const pool = pools[ref.pool] ?? [];
      // A pool left empty (a refused webhook) names nothing real: a fixed unknown id stands in.
      const entry = pool[pool.length - 1 - (ref.index % Math.max(1, pool.length))] ?? '00000000-0000-4000-8000-000000000000';
      return ref.part === undefined ? entry : (entry.split('/')[ref.part] ?? entry);
    },
    learn: async (url, { status, location, body }) => {
      if (status >= 300) return;
      const { position, id: keyId } = typeof body === 'object' && body !== null ? (body as { position?: unknown; id?: unknown }) : {};
      if (typeof position === 'string') pools.position!.push(position);
      const keyOf = /^\/api\/principals\/([^/?]+)\/keys$/.exec(url)?.[1];
      if (keyOf && typeof keyId === 'string') pools.key!.push(`${decodeURIComponent(keyOf)}/${keyId}`);
      for (const [pattern, named] of CREATED) {
        const match = location && pattern.exec(location);
        if (!match) continue;
        const [pool, id, stream] = named(match.slice(1));
        pools[pool]!.push(id);
        if (stream) pools.stream!.push(stream);
        if (pool === 'agent') await bindAgent(knex, 'fuzz-agent', id);
        return;
      }
    },
  };
}
