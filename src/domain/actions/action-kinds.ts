import { z } from 'zod';
import { DealStage } from '../deals/deal.events.js';
import { defaultRiskPolicy, type Risk, type RiskPolicy } from './risk-policy.js';

/**
 * How an approved action of a kind is carried out: by dealstream's own executors (`internal`), by
 * the HTTP executor configured for the kind (`http`, ACTION_HTTP_EXECUTORS), or by a person who
 * then records the outcome (`manual`, POST /api/actions/:id/outcome).
 */
export const EXECUTIONS = ['internal', 'http', 'manual'] as const;
export type Execution = (typeof EXECUTIONS)[number];

export type Payload = Record<string, unknown>;

/** A kind of action an agent or a person may propose. */
export interface ActionKind {
  name: string;
  description: string;
  /** What a proposal's payload must be; the executor reads the payload with the same schema. */
  payload: z.ZodType<Payload>;
  execution: Execution;
  /** The risk before the deal's amount and stage raise it (see RiskPolicy). */
  risk: Risk;
}

/** The kinds that may be proposed, by name. */
export type ActionKinds = ReadonlyMap<string, ActionKind>;

const Email = z.email().max(320);
const Emails = z.array(Email).min(1).max(50);
const Text = (max: number) => z.string().trim().min(1).max(max);

// Strict objects: a misspelt field is refused at the proposal, not silently dropped at execution.
export const AddNotePayload = z.strictObject({ text: Text(10_000).describe('The note, as it will read on the deal') });
export const AssignOwnerPayload = z.strictObject({ ownerId: z.string().min(1).max(200).describe('The principal id of the new owner') });
export const ChangeStagePayload = z.strictObject({
  to: DealStage.describe('The stage to move the deal to; `won` only from closing, `lost` and moving back need a reason'),
  reason: z.string().max(2000).optional(),
});
export const RequestDocumentsPayload = z.strictObject({
  documents: z.array(Text(200)).min(1).max(50).describe('What is asked for, one document each (e.g. "audited accounts 2025")'),
  from: Email.describe('Who is asked for them'),
  dueOn: z.iso.date().optional().describe('When they are due (YYYY-MM-DD)'),
  message: z.string().max(10_000).optional(),
});
export const ScheduleMeetingPayload = z.strictObject({
  startsAt: z.iso.datetime({ offset: true }).describe('When the meeting starts (ISO 8601 with offset)'),
  durationMinutes: z.number().int().min(5).max(24 * 60),
  attendees: Emails,
  location: z.string().max(500).optional().describe('A room, an address or a video link'),
  agenda: z.string().max(10_000).optional(),
});
export const SendEmailPayload = z.strictObject({
  to: Emails,
  cc: z.array(Email).max(50).optional(),
  subject: Text(300),
  body: Text(100_000).describe('Plain text'),
});
export const ShareDataRoomPayload = z.strictObject({
  recipients: Emails,
  access: z.enum(['view', 'download']).describe('`download` also lets them keep copies'),
  folders: z.array(Text(500)).min(1).max(100).optional().describe('The folders shared; none: the whole data room'),
  expiresAt: z.iso.datetime({ offset: true }).optional().describe('When their access ends'),
});

interface KindDefinition {
  description: string;
  payload: z.ZodType<Payload>;
  risk: Risk;
  /** dealstream executes it itself (src/workers/executors.ts); otherwise a person does, unless an HTTP executor is configured. */
  internal?: true;
}

/** dealstream's own kinds. */
export const ACTION_KIND_DEFINITIONS = {
  add_note: { description: 'Adds a note to the deal', payload: AddNotePayload, risk: 'low', internal: true },
  assign_owner: { description: "Makes someone the deal's owner", payload: AssignOwnerPayload, risk: 'medium', internal: true },
  change_stage: { description: 'Moves the deal to another stage, or closes it as won or lost', payload: ChangeStagePayload, risk: 'medium', internal: true },
  request_documents: { description: 'Asks someone for documents on the deal', payload: RequestDocumentsPayload, risk: 'low' },
  schedule_meeting: { description: 'Books a meeting with the attendees', payload: ScheduleMeetingPayload, risk: 'low' },
  send_email: { description: 'Sends an email', payload: SendEmailPayload, risk: 'medium' },
  share_data_room: { description: "Gives people access to the deal's data room", payload: ShareDataRoomPayload, risk: 'high' },
} as const satisfies Record<string, KindDefinition>;

/** A kind with an HTTP executor but no definition: any object is its payload; its risk is the policy's for unknown kinds. */
const UNDESCRIBED_PAYLOAD = z.record(z.string(), z.unknown());

/**
 * The kinds an installation offers: dealstream's own, each executed internally, by the HTTP
 * executor configured for it, or else by a person; and every other kind with an HTTP executor,
 * undescribed (any object as payload, the policy's unknown-kind risk). An internal kind stays
 * internal even when an HTTP executor is configured for it.
 */
export function actionKinds({ httpExecutors = [], policy = defaultRiskPolicy }: { httpExecutors?: Iterable<string>; policy?: RiskPolicy } = {}): ActionKinds {
  const http = new Set(httpExecutors);
  const kinds = new Map<string, ActionKind>();
  for (const [name, definition] of Object.entries(ACTION_KIND_DEFINITIONS) as [string, KindDefinition][]) {
    const execution: Execution = definition.internal ? 'internal' : http.has(name) ? 'http' : 'manual';
    kinds.set(name, { name, description: definition.description, payload: definition.payload, execution, risk: definition.risk });
  }
  for (const name of [...http].sort()) {
    if (kinds.has(name)) continue;
    kinds.set(name, { name, description: 'Sent to the HTTP executor configured for it; dealstream does not describe its payload', payload: UNDESCRIBED_PAYLOAD, execution: 'http', risk: policy.unknownKind });
  }
  return kinds;
}

/** Without HTTP executors: the kinds of dealstream's own, executed internally or by people. */
export const defaultActionKinds: ActionKinds = actionKinds();
