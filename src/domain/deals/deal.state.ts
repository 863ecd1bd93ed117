import type { Money } from '../shared/money.js';
import type { DealEvent, DealStage, OpenStage } from './deal.events.js';

export type DealState =
  | { status: 'none' }
  | {
      status: 'open' | 'won' | 'lost';
      dealId: string;
      name: string;
      company: string;
      amount: Money;
      ownerId: string;
      tags: string[];
      stage: DealStage;
      /** The open stage a lost deal was lost from: where a reopen returns it. */
      lostFrom?: OpenStage;
    };

export const initialDealState: DealState = { status: 'none' };

export function evolveDeal(state: DealState, event: DealEvent): DealState {
  switch (event.type) {
    case 'DealCreated': {
      const { dealId, name, company, amount, ownerId, tags, stage } = event.data;
      return { status: 'open', dealId, name, company, amount, ownerId, tags, stage };
    }
    case 'DealUpdated': {
      if (state.status === 'none') return state;
      const { name, company, amount, tags } = event.data;
      return { ...state, name: name ?? state.name, company: company ?? state.company, amount: amount ?? state.amount, tags: tags ?? state.tags };
    }
    case 'DealOwnerAssigned':
      return state.status === 'none' ? state : { ...state, ownerId: event.data.ownerId };
    case 'DealNoteAdded':
      return state;
    case 'DealStageChanged':
      return state.status === 'none' ? state : { ...state, stage: event.data.to };
    case 'DealClosed':
      if (state.status === 'none') return state;
      return event.data.outcome === 'won'
        ? { ...state, status: 'won', stage: 'won' }
        : { ...state, status: 'lost', stage: 'lost', lostFrom: event.data.fromStage };
    case 'DealReopened': {
      if (state.status === 'none') return state;
      const { lostFrom: _, ...rest } = state;
      return { ...rest, status: 'open', stage: event.data.stage };
    }
    default: {
      const _exhaustive: never = event;
      return state;
    }
  }
}
