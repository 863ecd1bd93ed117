import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { ACTION_KIND_DEFINITIONS, type ActionKinds } from '../domain/actions/action-kinds.js';
import { dealDecider, type DealCommand } from '../domain/deals/deal.decider.js';
import type { OnBehalfOf } from '../domain/shared/event.js';
import { ContentionError, DomainError } from '../domain/shared/errors.js';
import type { JsonObject } from '../eventstore/contract.js';
import { findUnstorable } from '../eventstore/validation.js';
import { OutboundRefusedError, describeOutboundFailure } from '../platform/outbound-guard.js';
import type { JobContext } from './job-context.js';
import { standardWebhookHeaders } from './signature.js';

export interface ActionToExecute {
  actionId: string;
  dealId: string;
  kind: string;
  payload: Record<string, unknown>;
  attempt: number;
  /** Who approved it: the commands an executor sends on the action's behalf name them. */
  onBehalfOf: OnBehalfOf;
}

/** Does what an action asks for, once in effect however often it runs; returns the result to record. */
export type Executor = (action: ActionToExecute, context: JobContext) => Promise<JsonObject>;

/**
 * A failure that trying again cannot fix (a payload that does not fit, a rule of the domain, a
 * receiver that refuses the request): the job ends at once and is dead-lettered.
 */
export class PermanentFailure extends UnrecoverableError {}

/**
 * The executor of each kind the registry says a machine executes: internal kinds turn into
 * commands on the action's deal, http kinds are sent to their URL. Manual kinds have none (a
 * person records their outcome). The effects' events have ids derived from the job, so they happen once.
 */
export function executors(kinds: ActionKinds, httpExecutors: Record<string, string>): Record<string, Executor> {
  const registry: Record<string, Executor> = {};
  for (const kind of kinds.values()) {
    const url = httpExecutors[kind.name];
    if (kind.execution === 'internal' && kind.name in INTERNAL) registry[kind.name] = INTERNAL[kind.name as keyof typeof INTERNAL];
    if (kind.execution === 'http' && url) registry[kind.name] = httpExecutor(url);
  }
  return registry;
}

const onDeal = <S extends z.ZodObject>(schema: S, run: (payload: z.output<S>, action: ActionToExecute, context: JobContext) => Promise<JsonObject>): Executor =>
  async (action, context) => {
    // Checked at the proposal already, strictly; read with the same schema, but fields it does not
    // know are dropped: an action proposed before they were refused still runs.
    const payload = schema.strip().safeParse(action.payload);
    if (!payload.success) throw new PermanentFailure(`the payload of a ${action.kind} action does not fit: ${z.prettifyError(payload.error)}`);
    try {
      return await run(payload.data as z.output<S>, action, context);
    } catch (error) {
      // A rule's refusal will not change on a retry; a contended stream will (the job tries again).
      if (error instanceof DomainError && !(error instanceof ContentionError)) throw new PermanentFailure(`${error.code}: ${error.message}`);
      throw error;
    }
  };

const dealStream = (action: ActionToExecute) => `deal-${action.dealId}`;
/** Sends a command to the action's deal as this worker, on the action's behalf. */
const onItsDeal = (action: ActionToExecute, context: JobContext, command: Omit<DealCommand, 'metadata'>, step: string) =>
  context.send(dealStream(action), dealDecider, command, step, { onBehalfOf: action.onBehalfOf });

const { add_note, assign_owner, change_stage } = ACTION_KIND_DEFINITIONS;
const INTERNAL = {
  add_note: onDeal(add_note.payload, async ({ text }, action, context) => {
    const noteId = action.actionId; // one note per action, whatever the attempts
    await onItsDeal(action, context, { type: 'AddDealNote', data: { noteId, text } }, 'add_note');
    return { noteId };
  }),
  assign_owner: onDeal(assign_owner.payload, async ({ ownerId }, action, context) => {
    await onItsDeal(action, context, { type: 'AssignDealOwner', data: { ownerId } }, 'assign_owner');
    return { ownerId };
  }),
  change_stage: onDeal(change_stage.payload, async ({ to, reason }, action, context) => {
    await onItsDeal(action, context, { type: 'ChangeDealStage', data: { to, ...(reason ? { reason } : {}) } }, 'change_stage');
    return { stage: to };
  }),
};

/**
 * POSTs the action to `url` through the outbound guard, signed the Standard Webhooks way, with the
 * action id as the Idempotency-Key (the receiver makes a repeat harmless) and a timeout. A 2xx
 * answer is the result; 408, 429, 5xx and no answer are tried again later; a redirect, any other
 * 4xx and an address the guard refuses are final.
 */
function httpExecutor(url: string): Executor {
  return async (action, context) => {
    const { secret, timeoutMs } = context.deps.settings.http;
    const body = JSON.stringify({ actionId: action.actionId, dealId: action.dealId, kind: action.kind, payload: action.payload, attempt: action.attempt });
    let response;
    try {
      response = await context.deps.outbound.fetch(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'idempotency-key': action.actionId, ...(secret ? standardWebhookHeaders(secret, action.actionId, body) : {}) },
        signal: AbortSignal.any([context.signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (error) {
      if (context.signal.aborted) throw error;
      const message = `${url}: ${describeOutboundFailure(error, timeoutMs)}`;
      throw error instanceof OutboundRefusedError ? new PermanentFailure(message) : new Error(message);
    }
    const text = await response.text();
    if (response.ok) return { status: response.status, body: parseJson(text) };
    const message = `${url} answered ${response.status}: ${text.slice(0, 500)}`;
    const final = (response.status >= 300 && response.status < 400) || (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429);
    if (final) throw new PermanentFailure(message);
    throw new Error(message);
  };
}

/** Answers up to this size are kept as JSON; anything else as clipped text. */
const MAX_RESULT_CHARS = 100_000;

/**
 * The receiver's answer as the result to record: its JSON when the log can keep it as it is, else
 * its text, clipped, NULs replaced and well-formed, so that no answer can make the record fail
 * (and the action be sent again).
 */
function parseJson(text: string): JsonObject | string | null {
  if (text === '') return null;
  if (text.length <= MAX_RESULT_CHARS) {
    try {
      const parsed = JSON.parse(text) as JsonObject;
      if (!findUnstorable(parsed)) return parsed;
    } catch {
      // not JSON: kept as text
    }
  }
  const clipped = text.slice(0, 10_000).replaceAll('\u0000', '\uFFFD');
  // Clipping may split a surrogate pair: toWellFormed (ES2024, in Node 20) replaces the half left.
  return (clipped as string & { toWellFormed(): string }).toWellFormed();
}
