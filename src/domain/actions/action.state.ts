import type { Actor } from '../shared/event.js';
import type { ActionEvent } from './action.events.js';
import type { Risk } from './risk-policy.js';

export type ActionStatus =
  | 'AwaitingApproval'
  | 'Approved'
  | 'Rejected'
  | 'Expired'
  | 'Cancelled'
  | 'Executing'
  | 'Executed'
  | 'Failed';

export type ActionState =
  | { status: 'None' }
  | {
      status: ActionStatus;
      actionId: string;
      dealId: string;
      kind: string;
      proposedBy: Actor;
      risk: Risk;
      approvalsRequired: number;
      approverIds: string[];
      expiresAt?: string;
      attempts: number;
    };

export const initialActionState: ActionState = { status: 'None' };

export function evolveAction(state: ActionState, event: ActionEvent): ActionState {
  if (event.type === 'ActionProposed') {
    const { actionId, dealId, kind, proposedBy } = event.data;
    // Until assessed (in the same append), a proposal waits; the assessment decides where it goes.
    return { status: 'AwaitingApproval', actionId, dealId, kind, proposedBy, risk: 'low', approvalsRequired: 0, approverIds: [], attempts: 0 };
  }
  if (state.status === 'None') return state;
  switch (event.type) {
    case 'ActionRiskAssessed':
      return { ...state, risk: event.data.risk, approvalsRequired: event.data.approvalsRequired };
    case 'ActionApprovalRequested':
      return { ...state, status: 'AwaitingApproval', expiresAt: event.data.expiresAt };
    case 'ActionApprovalGiven':
      return { ...state, approverIds: [...state.approverIds, event.data.approverId] };
    case 'ActionApproved':
      return { ...state, status: 'Approved' };
    case 'ActionRejected':
      return { ...state, status: 'Rejected' };
    case 'ActionExpired':
      return { ...state, status: 'Expired' };
    case 'ActionCancelled':
      return { ...state, status: 'Cancelled' };
    case 'ActionExecutionStarted':
      return { ...state, status: 'Executing', attempts: event.data.attempt };
    case 'ActionExecuted':
      return { ...state, status: 'Executed' };
    case 'ActionExecutionFailed':
      // A failure that is not final leaves the action approved, for the next attempt.
      return { ...state, status: event.data.final ? 'Failed' : 'Approved' };
    case 'ActionExecutionRetried':
      return { ...state, status: 'Approved' };
    default: {
      const _exhaustive: never = event;
      return state;
    }
  }
}
