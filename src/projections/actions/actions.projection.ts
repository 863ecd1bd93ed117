import { ActionEventSchemas, type ActionEvent } from '../../domain/actions/action.events.js';
import type { ActionStatus } from '../../domain/actions/action.state.js';
import { RISKS, type Risk } from '../../domain/actions/risk-policy.js';
import type { RecordedEvent } from '../../eventstore/contract.js';
import type { Projection } from '../runtime/projection.js';

type Json = Record<string, unknown>;

export interface ActionRow extends Json {
  action_id: string;
  deal_id: string;
  kind: string;
  title: string;
  payload: Json;
  status: ActionStatus;
  risk: Risk;
  /** 0 (low) to 3 (critical): sorts by risk. */
  risk_rank: number;
  risk_reasons: string[];
  approvals_required: number;
  /** Approvals given so far, in order. */
  approver_ids: string[];
  /** How it was approved: 'policy' (low risk) or 'approvers'. */
  approved_by: string | null;
  proposed_by_id: string;
  proposed_by_kind: string;
  /** Set only while an approval is requested. */
  expires_at: Date | string | null;
  attempts: number;
  result: Json | null;
  /** The last failed attempt's error, until an attempt succeeds. */
  error: string | null;
  rejected_by: string | null;
  rejection_reason: string | null;
  cancelled_by: string | null;
  cancel_reason: string | null;
  proposed_at: Date | string;
  updated_at: Date | string;
  revision: string;
}

interface ApprovalRow extends Json {
  action_id: string;
  approver_id: string;
  note: string | null;
  at: string;
}

/** Actions with their risk, approvals and execution, and each approval given. */
export const actionsProjection: Projection = {
  name: 'actions',
  version: 1,
  eventTypes: Object.keys(ActionEventSchemas),
  tables: ['actions', 'action_approvals'],

  async createTables(trx, schema) {
    await trx.raw(`
      CREATE TABLE ??.actions (
        action_id           text PRIMARY KEY,
        deal_id             text NOT NULL,
        kind                text NOT NULL,
        title               text NOT NULL,
        payload             jsonb NOT NULL,
        status              text NOT NULL,
        risk                text NOT NULL,
        risk_rank           int NOT NULL,
        risk_reasons        jsonb NOT NULL,
        approvals_required  int NOT NULL,
        approver_ids        text[] NOT NULL,
        approved_by         text,
        proposed_by_id      text NOT NULL,
        proposed_by_kind    text NOT NULL,
        expires_at          timestamptz,
        attempts            int NOT NULL,
        result              jsonb,
        error               text,
        rejected_by         text,
        rejection_reason    text,
        cancelled_by        text,
        cancel_reason       text,
        proposed_at         timestamptz NOT NULL,
        updated_at          timestamptz NOT NULL,
        revision            bigint NOT NULL
      );
      CREATE INDEX ON ??.actions (deal_id, status);
      CREATE INDEX ON ??.actions (status, risk_rank DESC, proposed_at, action_id);
      CREATE INDEX ON ??.actions (kind);
      CREATE INDEX ON ??.actions (proposed_by_id);
      CREATE INDEX ON ??.actions (proposed_at, action_id);
      CREATE INDEX ON ??.actions (updated_at, action_id);

      CREATE TABLE ??.action_approvals (
        action_id    text NOT NULL,
        approver_id  text NOT NULL,
        note         text,
        at           timestamptz NOT NULL,
        PRIMARY KEY (action_id, approver_id)
      );
    `, Array(8).fill(schema));
  },

  async apply(events, target) {
    const actions = target.rows<ActionRow>('actions', 'action_id');
    await actions.load(events.map((event) => (event.data as { actionId: string }).actionId));
    // Keyed by action and approver: one upsert must not touch a row twice.
    const approvals = new Map<string, ApprovalRow>();

    for (const recorded of events) {
      const event = recorded as unknown as ActionEvent;
      const after = evolveRow(actions.get(event.data.actionId), event, recorded);
      if (!after) continue;
      actions.set(after);
      if (event.type === 'ActionApprovalGiven') {
        const { actionId, approverId, note } = event.data;
        approvals.set(`${actionId}\u0000${approverId}`, { action_id: actionId, approver_id: approverId, note: note ?? null, at: event.metadata.occurredAt });
      }
    }

    target.insert('action_approvals', [...approvals.values()], { conflict: ['action_id', 'approver_id'] });
  },
};

/** The action's row after one event; events of an action the model never saw proposed are skipped. */
function evolveRow(row: ActionRow | undefined, event: ActionEvent, recorded: RecordedEvent): ActionRow | undefined {
  const touched = { revision: String(recorded.revision), updated_at: event.metadata.occurredAt };
  if (event.type === 'ActionProposed') {
    const { actionId, dealId, kind, title, payload, proposedBy } = event.data;
    // As in the domain: awaiting approval at low risk until the assessment (in the same append).
    return {
      action_id: actionId, deal_id: dealId, kind, title, payload, status: 'AwaitingApproval', risk: 'low', risk_rank: 0, risk_reasons: [],
      approvals_required: 0, approver_ids: [], approved_by: null, proposed_by_id: proposedBy.id, proposed_by_kind: proposedBy.kind,
      expires_at: null, attempts: 0, result: null, error: null, rejected_by: null, rejection_reason: null, cancelled_by: null,
      cancel_reason: null, proposed_at: event.metadata.occurredAt, ...touched,
    };
  }
  if (!row) return undefined;
  // An approval settled either way (approved, rejected, expired, cancelled) no longer expires.
  const settled = { ...touched, expires_at: null };
  switch (event.type) {
    case 'ActionRiskAssessed': {
      const { risk, reasons, approvalsRequired } = event.data;
      return { ...row, ...touched, risk, risk_rank: RISKS.indexOf(risk), risk_reasons: reasons, approvals_required: approvalsRequired };
    }
    case 'ActionApprovalRequested':
      return { ...row, ...touched, status: 'AwaitingApproval', approvals_required: event.data.approvalsRequired, expires_at: event.data.expiresAt };
    case 'ActionApprovalGiven': {
      const { approverId } = event.data;
      return { ...row, ...touched, approver_ids: row.approver_ids.includes(approverId) ? row.approver_ids : [...row.approver_ids, approverId] };
    }
    case 'ActionApproved':
      return { ...row, ...settled, status: 'Approved', approved_by: event.data.by };
    case 'ActionRejected':
      return { ...row, ...settled, status: 'Rejected', rejected_by: event.data.rejectedBy, rejection_reason: event.data.reason };
    case 'ActionExpired':
      return { ...row, ...settled, status: 'Expired' };
    case 'ActionCancelled':
      return { ...row, ...settled, status: 'Cancelled', cancelled_by: event.data.cancelledBy, cancel_reason: event.data.reason ?? null };
    case 'ActionExecutionStarted':
      return { ...row, ...touched, status: 'Executing', attempts: event.data.attempt };
    case 'ActionExecuted':
      return { ...row, ...touched, status: 'Executed', attempts: event.data.attempt, result: event.data.result, error: null };
    case 'ActionExecutionFailed':
      // A failure that is not final leaves the action approved, for the next attempt.
      return { ...row, ...touched, status: event.data.final ? 'Failed' : 'Approved', attempts: event.data.attempt, error: event.data.error };
    case 'ActionExecutionRetried':
      // The last error stays until an attempt succeeds.
      return { ...row, ...touched, status: 'Approved' };
    default: {
      const _exhaustive: never = event;
      return row;
    }
  }
}
