import { z } from 'zod';
import type { ActionEvent } from '../domain/actions/action.events.js';
import { evolveAction, initialActionState, type ActionState } from '../domain/actions/action.state.js';
import { RISKS } from '../domain/actions/risk-policy.js';
import { OPEN_STAGES, DealStage, type DealEvent } from '../domain/deals/deal.events.js';
import { evolveDeal, initialDealState, type DealState } from '../domain/deals/deal.state.js';
import { Actor, type DomainEvent } from '../domain/shared/event.js';
import { canonicalAmount } from '../domain/shared/money.js';
import type { RecordedEvent } from '../eventstore/contract.js';
import { ActionStatus, Approvals, answeredStatus } from '../queries/action-answers.js';

/**
 * A kind of stream that can be rebuilt as it stood: how its id is built, the domain's own fold, and
 * how the folded state reads in an answer (`view`, checked against `answer` where it is declared).
 * The answer is the one vocabulary of the API, not the domain's: lower snake_case statuses,
 * canonical amounts, the one approval shape. The view is null while the events up to there never
 * created the thing (a stream written around the commands).
 */
export interface Rebuildable<S, E, V extends z.ZodType> {
  streamId(id: string): string;
  initialState: S;
  evolve(state: S, event: E): S;
  answer: V;
  view(state: S, folded: readonly RecordedEvent[]): z.input<V> | null;
}

// Each entry is checked against its own types where it is declared (as commandRoute does).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRebuildable = Rebuildable<any, any, z.ZodType>;
const rebuildable = <S, E extends DomainEvent, V extends z.ZodType>(spec: Rebuildable<S, E, V>): AnyRebuildable => spec;

export const DealAsOf = z.object({
  status: z.enum(['open', 'won', 'lost']),
  dealId: z.string(),
  name: z.string(),
  company: z.string(),
  amount: z.object({ amount: z.string().describe('Exact, without trailing fractional zeros: "25000000", "12.5"'), currency: z.string().describe('ISO 4217') }),
  ownerId: z.string(),
  tags: z.array(z.string()),
  stage: DealStage,
  lostFrom: z.enum(OPEN_STAGES).nullable().describe('The open stage a lost deal was lost from (where a reopen returns it); null unless lost'),
});

export const ActionAsOf = z.object({
  status: ActionStatus,
  actionId: z.string(),
  dealId: z.string(),
  kind: z.string(),
  proposedBy: Actor,
  risk: z.enum(RISKS),
  approvals: Approvals,
  expiresAt: z.string().nullable().describe('Until when approval may be given; null: no deadline (yet)'),
  attempts: z.number().int().describe('Execution attempts started'),
  approvalsRequired: z.number().int().meta({ deprecated: true, description: 'Deprecated, use `approvals.required`' }),
  approverIds: z.array(z.string()).meta({ deprecated: true, description: 'Deprecated, use `approvals.given[].by`' }),
});

/** What auditors can rebuild, by path segment. */
export const REBUILDABLE = {
  deals: rebuildable({
    streamId: (id) => `deal-${id}`,
    initialState: initialDealState,
    evolve: evolveDeal as (state: DealState, event: DealEvent) => DealState,
    answer: DealAsOf,
    view: (state) =>
      state.status === 'none'
        ? null
        : { ...state, amount: { amount: canonicalAmount(state.amount.amount), currency: state.amount.currency }, lostFrom: state.lostFrom ?? null },
  }),
  actions: rebuildable({
    streamId: (id) => `action-${id}`,
    initialState: initialActionState,
    evolve: evolveAction as (state: ActionState, event: ActionEvent) => ActionState,
    answer: ActionAsOf,
    view: (state, folded) => {
      if (state.status === 'None') return null;
      const given = folded
        .filter((event) => event.type === 'ActionApprovalGiven')
        .map((event) => ({
          by: event.data.approverId as string,
          at: typeof event.metadata.occurredAt === 'string' ? event.metadata.occurredAt : event.recordedAt.toISOString(),
          note: typeof event.data.note === 'string' ? event.data.note : null,
        }));
      return {
        status: answeredStatus(state.status),
        actionId: state.actionId,
        dealId: state.dealId,
        kind: state.kind,
        proposedBy: state.proposedBy,
        risk: state.risk,
        approvals: { required: state.approvalsRequired, given },
        expiresAt: state.expiresAt ?? null,
        attempts: state.attempts,
        approvalsRequired: state.approvalsRequired,
        approverIds: state.approverIds,
      };
    },
  }),
} satisfies Record<string, AnyRebuildable>;
