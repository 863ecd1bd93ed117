import { eventMetadata, type CommandMetadata, type Decider } from '../shared/event.js';
import { IllegalStateError, NotFoundError, ValidationError } from '../shared/errors.js';
import { compareDecimals, type Money } from '../shared/money.js';
import { stampingVersions } from '../upcasters.js';
import { OPEN_STAGES, type DealEvent, type DealStage, type OpenStage } from './deal.events.js';
import { evolveDeal, initialDealState, type DealState } from './deal.state.js';

export type DealCommand =
  | { type: 'CreateDeal'; data: { dealId: string; name: string; company: string; amount: Money; ownerId: string; tags: string[] }; metadata: CommandMetadata }
  | { type: 'UpdateDeal'; data: { name?: string; company?: string; amount?: Money; tags?: string[] }; metadata: CommandMetadata }
  | { type: 'AssignDealOwner'; data: { ownerId: string }; metadata: CommandMetadata }
  | { type: 'AddDealNote'; data: { noteId: string; text: string }; metadata: CommandMetadata }
  | { type: 'ChangeDealStage'; data: { to: DealStage; reason?: string }; metadata: CommandMetadata }
  | { type: 'ReopenDeal'; data: { reason: string }; metadata: CommandMetadata };

type OpenDeal = Extract<DealState, { status: 'open' | 'won' | 'lost' }>;

export function decideDeal(command: DealCommand, state: DealState): DealEvent[] {
  const metadata = eventMetadata(command.metadata);
  if (command.type === 'CreateDeal') {
    if (state.status !== 'none') throw new IllegalStateError('DEAL.ALREADY_EXISTS', 'The deal already exists');
    return [{ type: 'DealCreated', data: { ...command.data, stage: 'sourcing' }, metadata }];
  }
  if (state.status === 'none') throw new NotFoundError('DEAL.NOT_FOUND', 'No such deal');
  const dealId = state.dealId;

  switch (command.type) {
    case 'UpdateDeal': {
      assertOpen(state);
      const changes = changedFields(state, command.data);
      return Object.keys(changes).length === 0 ? [] : [{ type: 'DealUpdated', data: { dealId, ...changes }, metadata }];
    }
    case 'AssignDealOwner':
      assertOpen(state);
      if (command.data.ownerId === state.ownerId) return [];
      return [{ type: 'DealOwnerAssigned', data: { dealId, ownerId: command.data.ownerId, previousOwnerId: state.ownerId }, metadata }];
    case 'AddDealNote': {
      // Notes stay welcome after a deal closes: a post-mortem is a note too.
      const text = command.data.text.trim();
      if (!text) throw new ValidationError('DEAL.NOTE_EMPTY', 'A note needs text', 'text');
      return [{ type: 'DealNoteAdded', data: { dealId, noteId: command.data.noteId, text, authorId: command.metadata.actor.id }, metadata }];
    }
    case 'ChangeDealStage':
      return changeStage(state, command.data.to, command.data.reason, metadata);
    case 'ReopenDeal': {
      if (state.status !== 'lost' || !state.lostFrom) throw new IllegalStateError('DEAL.NOT_LOST', 'Only a lost deal can be reopened');
      const reason = requireReason(command.data.reason, 'Reopening a deal needs a reason');
      return [{ type: 'DealReopened', data: { dealId, stage: state.lostFrom, reason }, metadata }];
    }
    default: {
      const _exhaustive: never = command;
      throw new Error(`unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

function changeStage(state: OpenDeal, to: DealStage, reason: string | undefined, metadata: DealEvent['metadata']): DealEvent[] {
  assertOpen(state);
  const from = state.stage as OpenStage;
  const dealId = state.dealId;
  if (to === from) throw new IllegalStateError('DEAL.STAGE_UNCHANGED', `The deal is already in ${from}`);
  if (to === 'won') {
    if (from !== 'closing') throw new IllegalStateError('DEAL.WON_ONLY_FROM_CLOSING', 'A deal is won only from the closing stage');
    return [{ type: 'DealClosed', data: { dealId, outcome: 'won', fromStage: from, ...(reason?.trim() ? { reason: reason.trim() } : {}) }, metadata }];
  }
  if (to === 'lost') {
    return [{ type: 'DealClosed', data: { dealId, outcome: 'lost', fromStage: from, reason: requireReason(reason, 'Losing a deal needs a reason') }, metadata }];
  }
  const backwards = OPEN_STAGES.indexOf(to) < OPEN_STAGES.indexOf(from);
  if (backwards) {
    return [{ type: 'DealStageChanged', data: { dealId, from, to, reason: requireReason(reason, 'Moving a deal back needs a reason') }, metadata }];
  }
  return [{ type: 'DealStageChanged', data: { dealId, from, to, ...(reason?.trim() ? { reason: reason.trim() } : {}) }, metadata }];
}

function assertOpen(state: OpenDeal): void {
  if (state.status !== 'open') {
    throw new IllegalStateError('DEAL.CLOSED', `The deal is ${state.status}; won and lost are final (a lost deal can be reopened)`);
  }
}

function requireReason(reason: string | undefined, message: string): string {
  const trimmed = reason?.trim();
  if (!trimmed) throw new ValidationError('DEAL.REASON_REQUIRED', message, 'reason');
  return trimmed;
}

function changedFields(state: OpenDeal, update: Extract<DealCommand, { type: 'UpdateDeal' }>['data']) {
  const changes: { name?: string; company?: string; amount?: Money; tags?: string[] } = {};
  if (update.name !== undefined && update.name !== state.name) changes.name = update.name;
  if (update.company !== undefined && update.company !== state.company) changes.company = update.company;
  // By value: "25000000" is no change to a deal created with "25000000.00".
  if (update.amount !== undefined && (compareDecimals(update.amount.amount, state.amount.amount) !== 0 || update.amount.currency !== state.amount.currency)) {
    changes.amount = update.amount;
  }
  if (update.tags !== undefined && JSON.stringify(update.tags) !== JSON.stringify(state.tags)) changes.tags = update.tags;
  return changes;
}

export const dealDecider: Decider<DealCommand, DealEvent, DealState> = stampingVersions({
  snapshot: { name: 'deal', version: 1 },
  initialState: initialDealState,
  evolve: evolveDeal,
  decide: decideDeal,
});
