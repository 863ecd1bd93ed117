import { z } from 'zod';
import { Actor, type DomainEvent } from '../shared/event.js';
import { RISKS } from './risk-policy.js';

const JsonObject = z.record(z.string(), z.unknown());

/** Event data schemas: type strings never change once stored; shapes change only by adding optional fields. */
export const ActionEventSchemas = {
  ActionProposed: z.object({
    actionId: z.string(),
    dealId: z.string(),
    kind: z.string(),
    title: z.string(),
    payload: JsonObject,
    proposedBy: Actor,
  }),
  ActionRiskAssessed: z.object({
    actionId: z.string(),
    risk: z.enum(RISKS),
    reasons: z.array(z.string()),
    approvalsRequired: z.number().int().min(0).max(2),
  }),
  ActionApprovalRequested: z.object({ actionId: z.string(), approvalsRequired: z.number().int(), expiresAt: z.string() }),
  /** One approver's approval; ActionApproved follows once enough are given. */
  ActionApprovalGiven: z.object({ actionId: z.string(), approverId: z.string(), note: z.string().optional() }),
  /** Ready to execute: by policy (low risk) or by the approvers needed. */
  ActionApproved: z.object({ actionId: z.string(), by: z.enum(['policy', 'approvers']), approverIds: z.array(z.string()) }),
  ActionRejected: z.object({ actionId: z.string(), rejectedBy: z.string(), reason: z.string() }),
  ActionExpired: z.object({ actionId: z.string(), expiresAt: z.string() }),
  ActionCancelled: z.object({ actionId: z.string(), cancelledBy: z.string(), reason: z.string().optional() }),
  ActionExecutionStarted: z.object({ actionId: z.string(), attempt: z.number().int().min(1) }),
  ActionExecuted: z.object({ actionId: z.string(), attempt: z.number().int().min(1), result: JsonObject }),
  ActionExecutionFailed: z.object({ actionId: z.string(), attempt: z.number().int().min(1), error: z.string(), final: z.boolean() }),
  /** An operator tries a failed execution again: the action is approved again, and executed anew. */
  ActionExecutionRetried: z.object({ actionId: z.string(), retriedBy: z.string(), reason: z.string().optional() }),
} as const;

type Schemas = typeof ActionEventSchemas;
export type ActionEvent = {
  [Type in keyof Schemas]: DomainEvent<Type, z.infer<Schemas[Type]>>;
}[keyof Schemas];
