import { expect } from 'chai';
import { ActionEventSchemas } from '../../src/domain/actions/action.events.js';
import { AgentEventSchemas, AgentRunEventSchemas } from '../../src/domain/agents/agent.events.js';
import { DealEventSchemas } from '../../src/domain/deals/deal.events.js';
import { timelineProjection } from '../../src/projections/timeline/timeline.projection.js';
import { projectionHarness, recorded, type ProjectionHarness } from '../support/projection.js';

interface EventRow {
  position: string;
  stream_id: string;
  category: string;
  type: string;
  deal_id: string | null;
  actor_kind: string;
  actor_id: string;
  summary: string;
}

describe('timeline projection', () => {
  let h: ProjectionHarness;
  before(async () => {
    h = await projectionHarness([timelineProjection]);
  });
  after(() => h.close());

  const usd = (amount: string) => ({ amount, currency: 'USD' });
  const scout = { kind: 'agent', id: 'scout' };
  const worker = { kind: 'worker', id: 'executor' };
  const events = async (streamPrefix: string) =>
    (await h.rows<EventRow>('recent_events', 'position')).filter((row) => row.stream_id.startsWith(streamPrefix));
  const summaries = async (streamPrefix: string) => (await events(streamPrefix)).map((row) => [row.type, row.deal_id, row.summary]);

  async function createDeal(name = 'Acme'): Promise<string> {
    const dealId = crypto.randomUUID();
    await h.given(
      recorded(`deal-${dealId}`, 'DealCreated', { dealId, name, company: `${name} Ltd`, amount: usd('100'), ownerId: 'ana', tags: [], stage: 'sourcing' }),
    );
    return dealId;
  }

  it('reads every event type of the domain', () => {
    const all = [DealEventSchemas, ActionEventSchemas, AgentEventSchemas, AgentRunEventSchemas].flatMap((schemas) => Object.keys(schemas));
    expect([...timelineProjection.eventTypes].sort()).to.deep.equal(all.sort());
  });

  it('records deal events with their deal and the deal name as it stood, renames within one batch included', async () => {
    const dealId = crypto.randomUUID();
    const stream = `deal-${dealId}`;
    await h.given(
      recorded(stream, 'DealCreated', { dealId, name: 'Acme', company: 'Acme Ltd', amount: usd('1250000.00'), ownerId: 'ana', tags: ['saas'], stage: 'sourcing' }),
      recorded(stream, 'DealStageChanged', { dealId, from: 'sourcing', to: 'screening' }),
      recorded(stream, 'DealUpdated', { dealId, name: 'Acme Corp', amount: usd('2000000.00') }),
      recorded(stream, 'DealStageChanged', { dealId, from: 'screening', to: 'diligence', reason: 'looks good' }),
    );
    await h.given(
      recorded(stream, 'DealOwnerAssigned', { dealId, ownerId: 'bo', previousOwnerId: 'ana' }, { actor: { kind: 'user', id: 'bo' } }),
      recorded(stream, 'DealNoteAdded', { dealId, noteId: 'n1', text: 'call the CFO', authorId: 'bo' }, { actor: { kind: 'user', id: 'bo' } }),
      recorded(stream, 'DealClosed', { dealId, outcome: 'lost', fromStage: 'diligence', reason: 'price' }),
      recorded(stream, 'DealReopened', { dealId, stage: 'diligence', reason: 'they came back' }),
      recorded(stream, 'DealUpdated', { dealId, tags: ['saas', 'eu'] }),
    );
    expect(await summaries(stream)).to.deep.equal([
      ['DealCreated', dealId, 'ana created Acme (Acme Ltd, 1250000 USD)'],
      ['DealStageChanged', dealId, 'ana moved Acme from sourcing to screening'],
      ['DealUpdated', dealId, 'ana updated Acme (name, amount)'],
      ['DealStageChanged', dealId, 'ana moved Acme Corp from screening to diligence'],
      ['DealOwnerAssigned', dealId, 'bo made bo the owner of Acme Corp'],
      ['DealNoteAdded', dealId, 'bo added a note to Acme Corp'],
      ['DealClosed', dealId, 'ana closed Acme Corp as lost'],
      ['DealReopened', dealId, 'ana reopened Acme Corp in diligence'],
      ['DealUpdated', dealId, 'ana updated Acme Corp (tags)'],
    ]);
    const [first] = await events(stream);
    expect(first).to.deep.include({ category: 'deal', actor_kind: 'user', actor_id: 'ana' });
    expect(await h.rows('timeline_streams', 'stream_id')).to.deep.include({ stream_id: stream, deal_id: dealId, label: 'Acme Corp' });
  });

  it("attributes an action's later events, in later batches, to the deal it was proposed on", async () => {
    const dealId = await createDeal('Beta');
    const actionId = crypto.randomUUID();
    const stream = `action-${actionId}`;
    await h.given(
      recorded(stream, 'ActionProposed', { actionId, dealId, kind: 'send_email', title: 'Send the NDA', payload: {}, proposedBy: scout }, { actor: scout }),
      recorded(stream, 'ActionRiskAssessed', { actionId, risk: 'medium', reasons: ['kind send_email is medium risk'], approvalsRequired: 1 }, { actor: scout }),
      recorded(stream, 'ActionApprovalRequested', { actionId, approvalsRequired: 1, expiresAt: '2026-11-25T10:00:00.000Z' }, { actor: scout }),
    );
    await h.given(
      recorded(stream, 'ActionApprovalGiven', { actionId, approverId: 'ana', note: 'fine' }),
      recorded(stream, 'ActionApproved', { actionId, by: 'approvers', approverIds: ['ana'] }),
    );
    await h.given(recorded(stream, 'ActionExecutionStarted', { actionId, attempt: 1 }, { actor: worker }));
    await h.given(
      recorded(stream, 'ActionExecutionFailed', { actionId, attempt: 1, error: 'smtp timeout', final: false }, { actor: worker }),
      recorded(stream, 'ActionExecutionStarted', { actionId, attempt: 2 }, { actor: worker }),
      recorded(stream, 'ActionExecuted', { actionId, attempt: 2, result: { messageId: 'm1' } }, { actor: worker }),
    );
    expect(await summaries(stream)).to.deep.equal([
      ['ActionProposed', dealId, 'scout proposed "Send the NDA" on Beta'],
      ['ActionRiskAssessed', dealId, '"Send the NDA" was assessed as medium risk'],
      ['ActionApprovalRequested', dealId, '"Send the NDA" needs 1 approval by 2026-11-25T10:00:00.000Z'],
      ['ActionApprovalGiven', dealId, 'ana approved "Send the NDA"'],
      ['ActionApproved', dealId, '"Send the NDA" was approved by ana'],
      ['ActionExecutionStarted', dealId, 'executor started executing "Send the NDA" (attempt 1)'],
      ['ActionExecutionFailed', dealId, 'executor failed to execute "Send the NDA" (attempt 1): smtp timeout'],
      ['ActionExecutionStarted', dealId, 'executor started executing "Send the NDA" (attempt 2)'],
      ['ActionExecuted', dealId, 'executor executed "Send the NDA" (attempt 2)'],
    ]);
    expect((await events(stream)).map((row) => row.category)).to.satisfy((categories: string[]) => categories.every((c) => c === 'action'));
  });

  it('summarises approval by policy, rejection, expiry, cancellation and a final failure', async () => {
    const dealId = await createDeal('Gamma');
    const proposal = (actionId: string, title: string) =>
      recorded(`action-${actionId}`, 'ActionProposed', { actionId, dealId, kind: 'k', title, payload: {}, proposedBy: scout }, { actor: scout });
    const [a, b, c, d, e] = Array.from({ length: 5 }, () => crypto.randomUUID());
    await h.given(proposal(a!, 'A'), proposal(b!, 'B'), proposal(c!, 'C'), proposal(d!, 'D'), proposal(e!, 'x'.repeat(100)));
    await h.given(
      recorded(`action-${a}`, 'ActionApproved', { actionId: a, by: 'policy', approverIds: [] }, { actor: scout }),
      recorded(`action-${b}`, 'ActionRejected', { actionId: b, rejectedBy: 'ana', reason: 'too early' }),
      recorded(`action-${c}`, 'ActionExpired', { actionId: c, expiresAt: '2026-11-25T10:00:00.000Z' }, { actor: { kind: 'system', id: 'clock' } }),
      recorded(`action-${d}`, 'ActionCancelled', { actionId: d, cancelledBy: 'scout' }, { actor: scout }),
      recorded(`action-${e}`, 'ActionExecutionFailed', { actionId: e, attempt: 3, error: 'bounced', final: true }, { actor: worker }),
    );
    const later = (await h.rows<EventRow>('recent_events', 'position')).filter((row) => row.deal_id === dealId && row.category === 'action' && row.type !== 'ActionProposed');
    expect(later.map((row) => row.summary)).to.deep.equal([
      '"A" was approved by policy',
      'ana rejected "B": too early',
      '"C" expired without approval',
      'scout cancelled "D"',
      `executor failed to execute "${'x'.repeat(79)}…" (attempt 3, final): bounced`,
    ]);
  });

  it('says which action a worker acted for, and who approved it', async () => {
    const dealId = await createDeal('Epsilon');
    const onBehalf = (event: ReturnType<typeof recorded>, onBehalfOf: { actionId: string; approvedBy: string; approverIds: string[] }) => ({ ...event, metadata: { ...event.metadata, onBehalfOf } });
    await h.given(
      onBehalf(recorded(`deal-${dealId}`, 'DealStageChanged', { dealId, from: 'sourcing', to: 'diligence' }, { actor: worker }), { actionId: 'a1', approvedBy: 'approvers', approverIds: ['ana', 'bo'] }),
      onBehalf(recorded(`deal-${dealId}`, 'DealNoteAdded', { dealId, noteId: 'a2', text: 'Called', authorId: 'executor' }, { actor: worker }), { actionId: 'a2', approvedBy: 'policy', approverIds: [] }),
    );
    const rows = (await h.rows<EventRow>('recent_events', 'position')).filter((row) => row.deal_id === dealId && row.type !== 'DealCreated');
    expect(rows.map((row) => [row.actor_id, row.summary])).to.deep.equal([
      ['executor', 'executor (for action a1, approved by ana and bo) moved Epsilon from sourcing to diligence'],
      ['executor', 'executor (for action a2, approved by the policy) added a note to Epsilon'],
    ]);
  });

  it("attributes a run's later events and its cost to the run's deal; agent events and runs without a deal have none", async () => {
    const dealId = await createDeal('Delta');
    const agentId = crypto.randomUUID();
    const [onDeal, offDeal] = [crypto.randomUUID(), crypto.randomUUID()];
    const agent = `agent-${agentId}`;
    const run = (runId: string) => `agent-${agentId}-run-${runId}`;
    const root = { actor: { kind: 'user', id: 'root' } };
    await h.given(
      recorded(agent, 'AgentRegistered', { agentId, name: 'Scout', model: 'gpt-5', capabilities: [] }, root),
      recorded(agent, 'AgentBudgetSet', { agentId, budget: usd('10') }, root),
      recorded(run(onDeal), 'AgentRunStarted', { agentId, runId: onDeal, dealId, goal: 'Research Delta', startedBy: scout }, { actor: scout }),
    );
    await h.given(
      recorded(run(onDeal), 'AgentToolCalled', { agentId, runId: onDeal, toolCallId: 't1', tool: 'web_search', input: {} }, { actor: scout }),
      recorded(run(onDeal), 'AgentToolCalled', { agentId, runId: onDeal, toolCallId: 't2', tool: 'crm', input: {}, error: 'down' }, { actor: scout }),
      recorded(run(onDeal), 'AgentRunCompleted', { agentId, runId: onDeal, summary: 'ok', tokens: { input: 1, output: 1 }, cost: usd('0.42') }, { actor: scout }),
      recorded(agent, 'AgentSpendRecorded', { agentId, runId: onDeal, cost: usd('0.42'), spent: usd('0.42') }, { actor: scout }),
      recorded(run(offDeal), 'AgentRunStarted', { agentId, runId: offDeal, goal: 'Scan the news', startedBy: scout }, { actor: scout }),
      recorded(run(offDeal), 'AgentRunFailed', { agentId, runId: offDeal, error: 'rate limited', tokens: { input: 0, output: 0 } }, { actor: scout }),
    );
    await h.given(recorded(agent, 'AgentBudgetSet', { agentId, budget: null }, root));
    expect(await summaries(agent)).to.deep.equal([
      ['AgentRegistered', null, 'root registered agent Scout (gpt-5)'],
      ['AgentBudgetSet', null, 'root set the budget of Scout to 10 USD'],
      ['AgentRunStarted', dealId, 'scout started Scout on "Research Delta" for Delta'],
      ['AgentToolCalled', dealId, 'scout called web_search in "Research Delta"'],
      ['AgentToolCalled', dealId, 'scout called crm (failed) in "Research Delta"'],
      ['AgentRunCompleted', dealId, 'scout completed "Research Delta" (0.42 USD)'],
      ['AgentSpendRecorded', dealId, 'Scout spent 0.42 USD on "Research Delta" (0.42 USD in total)'],
      ['AgentRunStarted', null, 'scout started Scout on "Scan the news"'],
      ['AgentRunFailed', null, '"Scan the news" failed: rate limited'],
      ['AgentBudgetSet', null, 'root removed the budget of Scout'],
    ]);
    expect((await events(agent)).map((row) => row.category)).to.satisfy((categories: string[]) => categories.every((c) => c === 'agent'));
  });

  it('stores each event once, with its envelope, when a batch is applied again', async () => {
    const dealId = crypto.randomUUID();
    const created = recorded(
      `deal-${dealId}`,
      'DealCreated',
      { dealId, name: 'Echo', company: 'Echo Ltd', amount: usd('5'), ownerId: 'ana', tags: [], stage: 'sourcing' },
      { at: '2026-11-23T08:30:00.000Z' },
    );
    await h.given(created);
    await h.given(created);
    const rows = (await h.rows<Record<string, unknown>>('recent_events')).filter((row) => row.deal_id === dealId);
    expect(rows).to.deep.equal([
      {
        position: created.position,
        event_id: created.id,
        stream_id: `deal-${dealId}`,
        category: 'deal',
        type: 'DealCreated',
        deal_id: dealId,
        actor_kind: 'user',
        actor_id: 'ana',
        occurred_at: new Date('2026-11-23T08:30:00.000Z'),
        recorded_at: new Date('2026-11-23T08:30:00.000Z'),
        summary: 'ana created Echo (Echo Ltd, 5 USD)',
        data: created.data,
      },
    ]);
  });
});
