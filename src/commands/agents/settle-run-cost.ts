import { agentDecider } from '../../domain/agents/agent.decider.js';
import { agentStreamId } from '../../domain/agents/agent.events.js';
import type { Money } from '../../domain/shared/money.js';
import type { CommandMetadata } from '../../domain/shared/event.js';
import type { EventStore, Position } from '../../eventstore/contract.js';
import { derivedUuid } from '../event-ids.js';
import { handleCommand, type StreamStates } from '../handle-command.js';

/** A run's outcome as it was recorded: the event's id and what the run cost. */
export interface RunOutcome {
  id: string;
  data: { agentId: string; runId: string; cost?: Money };
}

/**
 * A finished run's cost goes on its agent's ledger, where the next start checks the budget. The
 * ledger entry's ids derive from the run's outcome event, so settling it again (a retried request,
 * or the worker that settles every outcome after the API) finds the entry and adds nothing.
 * Returns the entry's position (new or found), or null for a run that cost nothing.
 */
export async function settleRunCost(eventStore: EventStore, outcome: RunOutcome, metadata: CommandMetadata, known?: StreamStates): Promise<Position | null> {
  const { agentId, runId, cost } = outcome.data;
  if (!cost) return null;
  const settled = await handleCommand(
    eventStore,
    agentStreamId(agentId),
    agentDecider,
    { type: 'RecordAgentSpend', data: { runId, cost }, metadata: { ...metadata, causationId: outcome.id } },
    { eventIdFor: (index) => derivedUuid(outcome.id, 'spend', String(index)), ...(known ? { known } : {}) },
  );
  return settled.events.length > 0 ? settled.position : null;
}
