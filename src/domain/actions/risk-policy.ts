import { compareDecimals, type Money } from '../shared/money.js';

export const RISKS = ['low', 'medium', 'high', 'critical'] as const;
export type Risk = (typeof RISKS)[number];

/**
 * How dealstream weighs a proposed action; pure data, so each installation can tune it. A kind's
 * base risk is the registry's (action-kinds.ts).
 */
export interface RiskPolicy {
  /** The base risk of a kind with an HTTP executor that dealstream does not describe. */
  unknownKind: Risk;
  /** Deals at or above this amount (in any currency) raise the risk one level. */
  largeAmount: string;
  /** Actions on deals in these stages raise the risk one level. */
  sensitiveStages: readonly string[];
  approvalsRequired: Record<Risk, 0 | 1 | 2>;
  /** How long a pending approval waits before it expires, by risk. */
  approvalTtlMinutes: Record<Risk, number>;
}

export const defaultRiskPolicy: RiskPolicy = {
  unknownKind: 'high',
  largeAmount: '10000000',
  sensitiveStages: ['negotiation', 'closing'],
  approvalsRequired: { low: 0, medium: 1, high: 1, critical: 2 },
  approvalTtlMinutes: { low: 0, medium: 72 * 60, high: 24 * 60, critical: 8 * 60 },
};

export interface RiskAssessment {
  risk: Risk;
  reasons: string[];
  approvalsRequired: 0 | 1 | 2;
  /** When a pending approval expires; absent when none is needed. */
  expiresAt?: string;
}

/** Assesses an action from its kind's base risk and the deal's amount and stage, at `now`. */
export function assessRisk(policy: RiskPolicy, input: { kind: { name: string; risk: Risk }; amount: Money; stage: string; now: string }): RiskAssessment {
  const reasons = [`kind ${input.kind.name} is ${input.kind.risk} risk`];
  let level = RISKS.indexOf(input.kind.risk);
  if (compareDecimals(input.amount.amount, policy.largeAmount) >= 0) {
    level++;
    reasons.push(`deal amount ${input.amount.amount} ${input.amount.currency} is at least ${policy.largeAmount}`);
  }
  if (policy.sensitiveStages.includes(input.stage)) {
    level++;
    reasons.push(`deal is in ${input.stage}`);
  }
  const risk = RISKS[Math.min(level, RISKS.length - 1)]!;
  const approvalsRequired = policy.approvalsRequired[risk];
  if (approvalsRequired === 0) return { risk, reasons, approvalsRequired };
  const expiresAt = new Date(Date.parse(input.now) + policy.approvalTtlMinutes[risk] * 60_000).toISOString();
  return { risk, reasons, approvalsRequired, expiresAt };
}
