import { expect } from 'chai';
import { ACTION_KIND_DEFINITIONS, actionKinds, defaultActionKinds } from '../../../src/domain/actions/action-kinds.js';
import { defaultRiskPolicy } from '../../../src/domain/actions/risk-policy.js';
import { PAYLOADS } from '../../support/action-payloads.js';

describe('action kinds', () => {
  const executions = (kinds = defaultActionKinds) => Object.fromEntries([...kinds.values()].map((kind) => [kind.name, kind.execution]));

  it('executes its own kinds internally and leaves the others to people', () => {
    expect(executions()).to.deep.equal({
      add_note: 'internal', assign_owner: 'internal', change_stage: 'internal',
      request_documents: 'manual', schedule_meeting: 'manual', send_email: 'manual', share_data_room: 'manual',
    });
  });

  it('sends a kind to its HTTP executor once one is configured; an internal kind stays internal', () => {
    expect(executions(actionKinds({ httpExecutors: ['send_email', 'change_stage'] }))).to.include({ send_email: 'http', change_stage: 'internal', schedule_meeting: 'manual' });
  });

  it("registers a kind with an HTTP executor but no definition: any object as payload, the policy's unknown-kind risk", () => {
    const kinds = actionKinds({ httpExecutors: ['send_fax'], policy: { ...defaultRiskPolicy, unknownKind: 'critical' } });
    const fax = kinds.get('send_fax')!;
    expect(fax).to.deep.include({ name: 'send_fax', execution: 'http', risk: 'critical' });
    expect(fax.payload.safeParse({ anything: [1, { deep: true }] }).success).to.equal(true);
    expect(fax.payload.safeParse('text').success).to.equal(false);
  });

  it('has a payload that fits each of its kinds in the test support, and refuses fields it does not know', () => {
    for (const [name, kind] of Object.entries(ACTION_KIND_DEFINITIONS)) {
      const sample = PAYLOADS[name as keyof typeof PAYLOADS];
      expect(kind.payload.safeParse(sample).success, name).to.equal(true);
      expect(kind.payload.safeParse({ ...sample, unheardOf: 1 }).success, name).to.equal(false);
    }
  });
});
