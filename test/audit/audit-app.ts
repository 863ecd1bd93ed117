import request from 'supertest';
import { silentLogger } from '../../src/platform/logger.js';
import { recordMigratedPrincipals } from '../../src/principals/record-migrated.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { commandsOver, createKeys } from '../support/api-calls.js';
import { payloadOf } from '../support/action-payloads.js';

export interface AuditApp {
  harness: TestApp;
  /** Sends a command over HTTP as one of the keys; resolves with the id it created, if any. */
  send: ReturnType<typeof commandsOver>;
  /** A GET as one of the keys (`audit` by default; null: no key at all). */
  get(path: string, query?: Record<string, string | number>, who?: string | null): request.Test;
}

/** The app with a key for every kind of caller: ops (operator), ana (approver), scout (agent), boss (admin), audit (auditor). */
export async function startAuditApp(): Promise<AuditApp> {
  const harness = await startTestApp();
  const keys = await createKeys(harness.knex, { ops: 'operator', ana: 'approver', scout: 'agent', boss: 'admin', audit: 'auditor' });
  // The log holds their history, as after a process started: the CLI run by a test finds nothing to add.
  await recordMigratedPrincipals({ knex: harness.knex, eventStore: harness.store }, silentLogger());
  return {
    harness,
    send: commandsOver(() => harness.app, keys),
    get: (path, query = {}, who = 'audit') => request(harness.app).get(path).query(query).set(who ? { authorization: `Bearer ${keys[who]}` } : {}),
  };
}

/**
 * A small history written by real commands, its streams interleaved in the log: two deals, an
 * email proposed on Acme and approved, an agent run on Acme with a tool call, a meeting on Globex.
 */
export async function dealActivity(send: AuditApp['send']) {
  const acme = (await send('/api/deals', { name: 'Acme buyout', company: 'Acme Ltd', amount: { amount: '1250000.00', currency: 'USD' } }, 'ops'))!;
  const globex = (await send('/api/deals', { name: 'Globex merger', company: 'Globex', amount: { amount: '300000', currency: 'EUR' } }, 'ops'))!;
  await send(`/api/deals/${acme}/stage`, { to: 'screening' }, 'ops');
  const email = (await send('/api/actions', { dealId: acme, kind: 'send_email', title: 'Send the NDA', payload: payloadOf('send_email') }, 'scout'))!;
  await send(`/api/deals/${acme}/notes`, { text: 'Call went well' }, 'ops');
  const agent = (await send('/api/agents', { name: 'Scout', model: 'gpt-5', capabilities: ['research'] }, 'boss'))!;
  const run = (await send(`/api/agents/${agent}/runs`, { goal: 'Research Acme', dealId: acme }, 'boss'))!;
  await send(`/api/deals/${globex}/owner`, { ownerId: 'bo' }, 'ops');
  await send(`/api/actions/${email}/approve`, {}, 'ana');
  await send(`/api/agents/${agent}/runs/${run}/tool-calls`, { tool: 'web_search', input: { q: 'Acme' } }, 'boss');
  const meeting = (await send('/api/actions', { dealId: globex, kind: 'schedule_meeting', title: 'Book a call', payload: payloadOf('schedule_meeting') }, 'scout'))!;
  await send(`/api/deals/${acme}/owner`, { ownerId: 'cy' }, 'ops');
  return { acme, globex, email, meeting, agent, run };
}
