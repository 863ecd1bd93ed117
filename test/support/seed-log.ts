import { randomUUID } from 'node:crypto';
import { actionDecider, type ActionCommand } from '../../src/domain/actions/action.decider.js';
import { agentRunDecider, type AgentRunCommand } from '../../src/domain/agents/agent-run.decider.js';
import { agentDecider, type AgentCommand } from '../../src/domain/agents/agent.decider.js';
import { dealDecider, type DealCommand } from '../../src/domain/deals/deal.decider.js';
import type { Actor, CommandMetadata, Decider, DomainEvent } from '../../src/domain/shared/event.js';
import type { EventStore, JsonObject, Position } from '../../src/eventstore/contract.js';
import { START_POSITION } from '../../src/eventstore/position.js';
import { payloadOf } from './action-payloads.js';

/**
 * A realistic log written fast: each stream's history is decided in memory by the real deciders
 * (so every event is one the domain would emit) and appended in one call per stream. Per deal:
 * creation, `notesPerDeal` notes, stage moves, and an action proposed before the deal is lost (every seventh is); every tenth deal also gets an agent
 * run with tool calls. Returns the number of events appended and the position of the last.
 */
export async function seedLog(
  store: EventStore,
  options: { deals: number; notesPerDeal?: number; concurrency?: number },
): Promise<{ events: number; lastPosition: Position }> {
  const notesPerDeal = options.notesPerDeal ?? 10;
  const clock = { ms: Date.parse('2026-01-01T00:00:00.000Z') };
  const meta = (actor: Actor): CommandMetadata => {
    clock.ms += 1000;
    return { actor, now: new Date(clock.ms).toISOString(), correlationId: randomUUID(), causationId: randomUUID() };
  };
  const ana: Actor = { kind: 'user', id: 'ana' };
  const bo: Actor = { kind: 'user', id: 'bo' };
  const scout: Actor = { kind: 'agent', id: 'scout' };
  const agentId = randomUUID();
  const streams: { id: string; events: DomainEvent[] }[] = [];

  const agent = decideAll(agentDecider, [
    { type: 'RegisterAgent', data: { agentId, name: 'Scout', model: 'gpt-5', capabilities: ['research'] }, metadata: meta(ana) },
  ] satisfies AgentCommand[]);
  for (let d = 0; d < options.deals; d++) {
    const dealId = randomUUID();
    const stages = ['screening', 'diligence', 'negotiation'] as const;
    const deal = decideAll(dealDecider, [
      { type: 'CreateDeal', data: { dealId, name: `Deal ${d}`, company: `Company ${d % 97}`, amount: { amount: `${(d % 50) * 100000 + 5000}.25`, currency: d % 3 ? 'USD' : 'EUR' }, ownerId: d % 2 ? 'ana' : 'bo', tags: [`t${d % 5}`] }, metadata: meta(ana) },
      ...Array.from({ length: notesPerDeal }, (_, n) => ({ type: 'AddDealNote' as const, data: { noteId: randomUUID(), text: `Note ${n} on deal ${d}` }, metadata: meta(n % 2 ? ana : bo) })),
      { type: 'ChangeDealStage', data: { to: stages[d % 3]! }, metadata: meta(bo) },
      ...(d % 7 === 0 ? [{ type: 'ChangeDealStage' as const, data: { to: 'lost' as const, reason: 'Budget cut' }, metadata: meta(bo) }] : []),
    ] satisfies DealCommand[]);
    streams.push({ id: `deal-${dealId}`, events: deal.events });

    const actionId = randomUUID();
    const action = decideAll(actionDecider(), [
      { type: 'ProposeAction', data: { actionId, dealId, kind: d % 2 ? 'send_email' : 'schedule_meeting', title: `Follow up ${d}`, payload: payloadOf(d % 2 ? 'send_email' : 'schedule_meeting'), deal: deal.stateBefore(notesPerDeal + 2) }, metadata: meta(scout) },
      ...(d % 2 ? [{ type: 'ApproveAction' as const, data: {}, metadata: meta(ana) }] : []),
    ] satisfies ActionCommand[]);
    streams.push({ id: `action-${actionId}`, events: action.events });

    if (d % 10 === 0) {
      const runId = randomUUID();
      const run = decideAll(agentRunDecider, [
        { type: 'StartAgentRun', data: { agentId, runId, goal: `Research deal ${d}`, dealId, agent: agent.state, deal: deal.state }, metadata: meta(scout) },
        { type: 'RecordAgentToolCall', data: { toolCallId: randomUUID(), tool: 'web_search', input: { q: `Company ${d}` }, output: { hits: 3 }, durationMs: 120 }, metadata: meta(scout) },
        { type: 'CompleteAgentRun', data: { summary: 'Looks fine', tokens: { input: 900, output: 120 }, cost: { amount: '0.0125', currency: 'USD' } }, metadata: meta(scout) },
      ] satisfies AgentRunCommand[]);
      streams.push({ id: `agent-${agentId}-run-${runId}`, events: run.events });
    }
  }
  streams.unshift({ id: `agent-${agentId}`, events: agent.events });

  let next = 0;
  let lastPosition: Position = START_POSITION;
  const worker = async () => {
    while (next < streams.length) {
      const stream = streams[next++]!;
      const events = stream.events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as JsonObject, metadata: event.metadata as unknown as JsonObject }));
      const { position } = await store.append(stream.id, events, { expectedRevision: 'no_stream' });
      if (position > lastPosition) lastPosition = position;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return { events: streams.reduce((sum, stream) => sum + stream.events.length, 0), lastPosition };
}

/** Decides commands one after another, as a stream's life would. */
function decideAll<C, E extends DomainEvent, S>(decider: Decider<C, E, S>, commands: C[]) {
  let state = decider.initialState;
  const events: E[] = [];
  const states: S[] = [];
  for (const command of commands) {
    states.push(state);
    const decided = decider.decide(command, state);
    state = decided.reduce(decider.evolve, state);
    events.push(...decided);
  }
  /** The state before the command at `index`, or the final one. */
  return { events, state, stateBefore: (index: number) => states[index] ?? state };
}
