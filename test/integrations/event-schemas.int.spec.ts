import { expect } from 'chai';
import request from 'supertest';
import { z } from 'zod';
import { ActionEventSchemas } from '../../src/domain/actions/action.events.js';
import { AgentEventSchemas, AgentRunEventSchemas } from '../../src/domain/agents/agent.events.js';
import { DealEventSchemas } from '../../src/domain/deals/deal.events.js';
import { PrincipalEventSchemas } from '../../src/domain/principals/principal.events.js';
import { WebhookEventSchemas } from '../../src/domain/webhooks/webhook.events.js';
import { WorkerEventSchemas } from '../../src/domain/workers/worker.events.js';
import { ROLES } from '../../src/auth/principal.js';
import { commandsOver, createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { bindAgent } from '../support/principals.js';
import { collect } from '../support/async.js';
import { payloadOf } from '../support/action-payloads.js';

type JsonSchemaObject = { $schema: string; type: string; properties: Record<string, object>; required?: string[]; additionalProperties?: unknown };
interface EventTypeEntry {
  category: string;
  stream: string;
  version: number;
  schema: JsonSchemaObject;
  earlierVersions?: Record<string, JsonSchemaObject>;
}

describe('event types as JSON Schema: GET /api/integrations/event-types', () => {
  let harness: TestApp;
  let keys: Record<string, string>;
  let eventTypes: Record<string, EventTypeEntry>;
  const as = (name: string) => ({ authorization: `Bearer ${keys[name]}` });

  before(async () => {
    harness = await startTestApp();
    keys = await createKeys(harness.knex, Object.fromEntries(ROLES.map((role) => [role, role])));
    eventTypes = (await request(harness.app).get('/api/integrations/event-types').set(as('integration')).expect(200)).body.eventTypes;
  });
  after(() => harness.close());

  it('lists every event type the domain defines, each with its category, streams and a 2020-12 schema of its data', () => {
    const domainTypes = [DealEventSchemas, ActionEventSchemas, AgentEventSchemas, AgentRunEventSchemas, WorkerEventSchemas, PrincipalEventSchemas, WebhookEventSchemas].flatMap((schemas) => Object.keys(schemas));
    expect(Object.keys(eventTypes)).to.have.members(domainTypes);
    for (const [type, { category, stream, schema }] of Object.entries(eventTypes)) {
      expect(stream, type).to.match(new RegExp(`^${category}-<\\w+>`));
      expect(schema, type).to.include({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' });
    }
    expect(eventTypes.AgentToolCalled).to.include({ category: 'agent', stream: 'agent-<agentId>-run-<runId>' });

    const { schema } = eventTypes.DealStageChanged!;
    expect(schema.required).to.deep.equal(['dealId', 'from', 'to']);
    expect(schema.properties.to).to.deep.equal({ type: 'string', enum: ['sourcing', 'screening', 'diligence', 'negotiation', 'closing'] });
    expect(schema.properties.reason).to.deep.equal({ type: 'string', minLength: 1, maxLength: 2000 });
    // Open to fields a later version adds (as optional ones): a client's cached schema keeps accepting.
    expect(schema).to.not.have.property('additionalProperties');
  });

  it('describes what is recorded: the data of real events passes its schema, and a copy missing a required field does not', async () => {
    const command = commandsOver(() => harness.app, keys);
    const usd = (amount: string) => ({ amount, currency: 'USD' });
    const dealId = (await command('/api/deals', { name: 'Acme', company: 'Acme Ltd', amount: usd('100'), tags: ['saas'] }, 'operator'))!;
    await command(`/api/deals/${dealId}/stage`, { to: 'screening' }, 'operator');
    await command(`/api/deals/${dealId}/notes`, { text: 'call them' }, 'operator');
    const actionId = (await command('/api/actions', { dealId, kind: 'send_email', title: 'Send the NDA', payload: payloadOf('send_email') }, 'agent'))!;
    await command(`/api/actions/${actionId}/approve`, {}, 'approver');
    const agentId = (await command('/api/agents', { name: 'Scout', model: 'gpt-5' }, 'admin'))!;
    await bindAgent(harness.knex, 'agent', agentId);
    const runId = (await command(`/api/agents/${agentId}/runs`, { goal: 'Research Acme', dealId }, 'agent'))!;
    await command(`/api/agents/${agentId}/runs/${runId}/tool-calls`, { tool: 'web_search', input: { q: 'Acme' }, output: { hits: 3 } }, 'agent');
    await command(`/api/agents/${agentId}/runs/${runId}/complete`, { summary: 'Looks good', tokens: { input: 10, output: 5 }, cost: usd('0.42') }, 'agent');

    const streams = [`deal-${dealId}`, `action-${actionId}`, `agent-${agentId}`, `agent-${agentId}-run-${runId}`];
    const recorded = (await Promise.all(streams.map((stream) => collect(harness.store.readStream(stream))))).flat();
    expect(new Set(recorded.map((event) => event.type)).size).to.be.at.least(12);
    for (const event of recorded) {
      // The schema as served, turned back into a validator: not the domain's zod schema it came from.
      const { schema } = eventTypes[event.type]!;
      const validate = z.fromJSONSchema(schema as z.core.JSONSchema.JSONSchema);
      expect(validate.safeParse(event.data).error, event.type).to.equal(undefined);
      expect(validate.safeParse({ ...event.data, addedLater: 1 }).success, event.type).to.equal(true);
      const [required] = schema.required!;
      const { [required!]: _, ...broken } = event.data;
      expect(validate.safeParse(broken).success, `${event.type} without ${required}`).to.equal(false);
    }
  });

  it("gives each type's current version, and the shapes of a changed type's earlier versions that the feed and webhooks may still send", () => {
    const changed = Object.entries(eventTypes).filter(([, entry]) => entry.version !== 1);
    expect(changed.map(([type]) => type)).to.deep.equal(['DealClosed']);
    for (const [type, entry] of Object.entries(eventTypes)) if (entry.version === 1) expect(entry, type).to.not.have.property('earlierVersions');

    const { version, schema, earlierVersions } = eventTypes.DealClosed!;
    expect(version).to.equal(2);
    expect(Object.keys(earlierVersions!)).to.deep.equal(['1']);
    expect(schema.required).to.deep.equal(['dealId', 'outcome', 'fromStage']);
    expect(earlierVersions!['1']!.required).to.deep.equal(['dealId', 'outcome', 'from']);
    const validator = (json: JsonSchemaObject) => z.fromJSONSchema(json as z.core.JSONSchema.JSONSchema);
    const storedV1 = { dealId: 'd', outcome: 'lost', from: 'diligence', reason: 'Budget cut' };
    expect(validator(earlierVersions!['1']!).safeParse(storedV1).success).to.equal(true);
    expect(validator(schema).safeParse(storedV1).success).to.equal(false);
  });

  it('answers one event type, and a 404 problem for a type it does not know', async () => {
    const res = await request(harness.app).get('/api/integrations/event-types/ActionApproved').set(as('auditor')).expect(200);
    expect(res.body).to.deep.equal({ type: 'ActionApproved', ...eventTypes.ActionApproved });
    const unknown = await request(harness.app).get('/api/integrations/event-types/ActionApprove').set(as('auditor')).expect(404);
    expect(unknown.type).to.equal('application/problem+json');
    expect(unknown.body).to.include({ type: '/problems/unknown-event-type', title: 'Unknown event type', status: 404, code: 'EVENT_TYPE.NOT_FOUND', detail: 'No event type is named ActionApprove' });
    await request(harness.app).get('/api/integrations/event-types/constructor').set(as('auditor')).expect(404);
  });

  it('is readable by every role, and not without a key', async () => {
    for (const role of ROLES) await request(harness.app).get('/api/integrations/event-types').set(as(role)).expect(200);
    await request(harness.app).get('/api/integrations/event-types').expect(401);
  });
});
