import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import { ROLES } from '../../src/auth/principal.js';
import { actionKinds } from '../../src/domain/actions/action-kinds.js';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';

describe('discovery: GET /api/action-kinds and GET /api/policies/risk', () => {
  let harness: TestApp;
  let app: Express;
  let keys: Record<string, string>;

  before(async () => {
    // As an installation with HTTP executors for send_email and for a kind dealstream does not describe.
    harness = await startTestApp({ http: { actionKinds: actionKinds({ httpExecutors: ['send_email', 'send_fax'] }) } });
    app = harness.app;
    keys = await createKeys(harness.knex, Object.fromEntries(ROLES.map((role) => [role, role])));
  });
  after(() => harness.close());

  const read = (path: string, role: string) => request(app).get(path).set('authorization', `Bearer ${keys[role]}`);

  it('lets every role read both, and nobody without a key', async () => {
    for (const path of ['/api/action-kinds', '/api/policies/risk']) {
      for (const role of ROLES) await read(path, role).expect(200);
      const anonymous = await request(app).get(path).expect(401);
      expect(anonymous.body.code).to.equal('AUTH.UNAUTHENTICATED');
    }
  });

  it('lists each kind with its description, how it is executed, its base risk and its payload as JSON Schema', async () => {
    const { body } = await read('/api/action-kinds', 'agent').expect(200);
    const byName = Object.fromEntries((body.items as { name: string; payloadSchema: Record<string, unknown> }[]).map((kind) => [kind.name, kind]));
    expect(Object.keys(byName)).to.deep.equal(['add_note', 'assign_owner', 'change_stage', 'request_documents', 'schedule_meeting', 'send_email', 'share_data_room', 'send_fax']);
    expect(byName.change_stage).to.deep.include({ name: 'change_stage', execution: 'internal', risk: 'medium' });
    expect(byName.send_email).to.deep.include({ execution: 'http', risk: 'medium' });
    expect(byName.share_data_room).to.deep.include({ execution: 'manual', risk: 'high' });
    expect(byName.send_fax).to.deep.include({ execution: 'http', risk: 'high' });
    const stage = byName.change_stage!.payloadSchema;
    expect(stage).to.deep.include({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', required: ['to'], additionalProperties: false });
    expect((stage.properties as { to: { enum: string[] } }).to.enum).to.include.members(['diligence', 'won', 'lost']);
    expect(byName.send_fax!.payloadSchema).to.deep.include({ type: 'object' });
  });

  it('describes the risk policy: base risks, what raises them, and the approvals and deadline of each risk', async () => {
    const { body } = await read('/api/policies/risk', 'auditor').expect(200);
    expect(body).to.deep.equal({
      levels: ['low', 'medium', 'high', 'critical'],
      baseRisks: {
        add_note: 'low', assign_owner: 'medium', change_stage: 'medium', request_documents: 'low',
        schedule_meeting: 'low', send_email: 'medium', share_data_room: 'high', send_fax: 'high',
      },
      unknownKindRisk: 'high',
      largeAmount: '10000000',
      sensitiveStages: ['negotiation', 'closing'],
      raises: [
        { rule: 'large_amount', levels: 1, description: "The deal's amount is at least 10000000, in any currency" },
        { rule: 'sensitive_stage', levels: 1, description: 'The deal is in negotiation or closing' },
      ],
      approvalsRequired: { low: 0, medium: 1, high: 1, critical: 2 },
      approvalTtlMinutes: { low: 0, medium: 4320, high: 1440, critical: 480 },
    });
  });

  it('is in the OpenAPI description with typed answers', async () => {
    const { body } = await request(app).get('/openapi.json').expect(200);
    const kinds = body.paths['/api/action-kinds'].get;
    const risk = body.paths['/api/policies/risk'].get;
    const item = kinds.responses['200'].content['application/json'].schema.properties.items.items;
    expect(item.required).to.have.members(['name', 'description', 'execution', 'risk', 'payloadSchema']);
    expect(item.properties.execution.enum).to.deep.equal(['internal', 'http', 'manual']);
    expect(risk.responses['200'].content['application/json'].schema.properties).to.have.keys(
      'levels', 'baseRisks', 'unknownKindRisk', 'largeAmount', 'sensitiveStages', 'raises', 'approvalsRequired', 'approvalTtlMinutes',
    );
    const outcome = body.paths['/api/actions/{id}/outcome'].post;
    expect(outcome['x-roles']).to.deep.equal(['admin', 'operator']);
  });

  it('lets a proposal use a kind only this installation has (an HTTP executor), with any object as payload', async () => {
    const created = await request(app)
      .post('/api/deals')
      .set('authorization', `Bearer ${keys.operator}`)
      .send({ name: 'Acme', company: 'Acme Ltd', amount: { amount: '500000', currency: 'USD' } })
      .expect(201);
    const dealId = created.headers.location!.split('/').pop();
    await request(app).post('/api/actions').set('authorization', `Bearer ${keys.agent}`).send({ dealId, kind: 'send_fax', title: 'Fax the LOI', payload: { number: '+1 555 0100' } }).expect(201);
  });
});
