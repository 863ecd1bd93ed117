import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { dealDecider } from '../domain/deals/deal.decider.js';
import { DealStage } from '../domain/deals/deal.events.js';
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
}

/** Does what an action asks for, once in effect however often it runs; returns the result to record. */
export type Executor = (action: ActionToExecute, context: JobContext) => Promise<JsonObject>;

/**
 * A failure that trying again cannot fix (a payload that does not fit, a rule of the domain, a
 * receiver that refuses the request): the job ends at once and is dead-lettered.
 */
export class PermanentFailure extends UnrecoverableError {}

/**
 * Internal kinds turn into commands on the action's deal; kinds configured with a URL are sent
 * there. The effects' events have ids derived from the job, so they happen once.
 */
export function executors(httpExecutors: Record<string, string>): Record<string, Executor> {
  const http = Object.fromEntries(Object.entries(httpExecutors).map(([kind, url]) => [kind, httpExecutor(url)]));
  return { ...http, ...INTERNAL };
}

const onDeal = <T>(schema: z.ZodType<T>, run: (payload: T, action: ActionToExecute, context: JobContext) => Promise<JsonObject>): Executor =>
  async (action, context) => {
    const payload = schema.safeParse(action.payload);
    if (!payload.success) throw new PermanentFailure(`the payload of a ${action.kind} action does not fit: ${z.prettifyError(payload.error)}`);
    try {
      return await run(payload.data, action, context);
    } catch (error) {
      // A rule's refusal will not change on a retry; a contended stream will (the job tries again).
      if (error instanceof DomainError && !(error instanceof ContentionError)) throw new PermanentFailure(`${error.code}: ${error.message}`);
      throw error;
    }
  };

const dealStream = (action: ActionToExecute) => `deal-${action.dealId}`;

const INTERNAL: Record<string, Executor> = {
  add_note: onDeal(z.object({ text: z.string().trim().min(1).max(10_000) }), async ({ text }, action, context) => {
    const noteId = action.actionId; // one note per action, whatever the attempts
    await context.send(dealStream(action), dealDecider, { type: 'AddDealNote', data: { noteId, text } }, 'add_note');
    return { noteId };
  }),
  assign_owner: onDeal(z.object({ ownerId: z.string().min(1).max(200) }), async ({ ownerId }, action, context) => {
    await context.send(dealStream(action), dealDecider, { type: 'AssignDealOwner', data: { ownerId } }, 'assign_owner');
    return { ownerId };
  }),
  change_stage: onDeal(z.object({ to: DealStage, reason: z.string().max(2000).optional() }), async ({ to, reason }, action, context) => {
    await context.send(dealStream(action), dealDecider, { type: 'ChangeDealStage', data: { to, ...(reason ? { reason } : {}) } }, 'change_stage');
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
