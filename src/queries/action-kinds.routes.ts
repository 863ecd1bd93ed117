import { Router } from 'express';
import { z } from 'zod';
import { ROLES } from '../auth/principal.js';
import { EXECUTIONS, defaultActionKinds, type ActionKinds } from '../domain/actions/action-kinds.js';
import { RISKS, defaultRiskPolicy, type RiskPolicy } from '../domain/actions/risk-policy.js';
import { OPEN_STAGES } from '../domain/deals/deal.events.js';
import { canonicalAmount } from '../domain/shared/money.js';
import { requireRole } from '../http/auth.js';
import type { DescribedRoute } from '../http/openapi.js';

const Risk = z.enum(RISKS);
/** One value per risk, each a named property (a record keyed by an enum would leave them undefined in JSON Schema). */
const ByRisk = <T extends z.ZodType>(value: T) => z.strictObject(Object.fromEntries(RISKS.map((risk) => [risk, value])) as Record<(typeof RISKS)[number], T>);

export const ActionKindView = z.object({
  name: z.string().describe('What a proposal names as its `kind`'),
  description: z.string(),
  execution: z.enum(EXECUTIONS).describe('`internal`: dealstream executes it; `http`: sent to the executor configured for it; `manual`: a person carries it out and records the outcome (POST /api/actions/{id}/outcome)'),
  risk: Risk.describe("The base risk: the deal's amount and stage may raise it (GET /api/policies/risk)"),
  payloadSchema: z.record(z.string(), z.unknown()).describe('JSON Schema (2020-12) the proposal\'s `payload` must fit'),
});
export const ActionKindList = z.object({ items: z.array(ActionKindView) });

export const RiskPolicyView = z.object({
  levels: z.array(Risk).describe('The risks from lowest to highest'),
  baseRisks: z.record(z.string(), Risk).describe('The base risk of each kind that may be proposed'),
  unknownKindRisk: Risk.describe('The base risk of a kind with an HTTP executor that dealstream does not describe'),
  largeAmount: z.string().describe('A deal of at least this amount (in any currency) raises the risk one level'),
  sensitiveStages: z.array(z.enum(OPEN_STAGES)).describe('A deal in one of these stages raises the risk one level'),
  raises: z
    .array(z.object({ rule: z.enum(['large_amount', 'sensitive_stage']), levels: z.number().int(), description: z.string() }))
    .describe('What raises the base risk; raises add up, up to the highest level'),
  approvalsRequired: ByRisk(z.number().int().min(0).max(2)).describe('Approvals by different people needed at each risk; 0: approved by the policy at once'),
  approvalTtlMinutes: ByRisk(z.number().min(0)).describe('How long an approval is waited for at each risk before the action expires'),
});

/** For the OpenAPI document. */
export const ACTION_KINDS_API = [
  {
    method: 'get',
    path: '/action-kinds',
    summary: 'The kinds of action that may be proposed: payload schema, how each is executed, base risk',
    roles: ROLES,
    success: { schema: ActionKindList },
  },
  {
    method: 'get',
    path: '/policies/risk',
    summary: 'How a proposal is weighed: base risks by kind, what raises them, and the approvals and deadline each risk needs',
    roles: ROLES,
    success: { schema: RiskPolicyView },
  },
] as const satisfies readonly DescribedRoute[];

/** What an agent may propose and what approval it will need; every role may read it. */
export function actionKindRoutes({ kinds = defaultActionKinds, policy = defaultRiskPolicy }: { kinds?: ActionKinds; policy?: RiskPolicy } = {}): Router {
  // Both answers follow from the configuration: made once.
  const list = ActionKindList.parse({
    items: [...kinds.values()].map((kind) => ({
      name: kind.name,
      description: kind.description,
      execution: kind.execution,
      risk: kind.risk,
      payloadSchema: z.toJSONSchema(kind.payload, { target: 'draft-2020-12', io: 'input' }),
    })),
  });
  const risk = RiskPolicyView.parse({
    levels: RISKS,
    baseRisks: Object.fromEntries([...kinds.values()].map((kind) => [kind.name, kind.risk])),
    unknownKindRisk: policy.unknownKind,
    largeAmount: canonicalAmount(policy.largeAmount),
    sensitiveStages: policy.sensitiveStages,
    raises: [
      { rule: 'large_amount', levels: 1, description: `The deal's amount is at least ${canonicalAmount(policy.largeAmount)}, in any currency` },
      ...(policy.sensitiveStages.length > 0 ? [{ rule: 'sensitive_stage', levels: 1, description: `The deal is in ${policy.sensitiveStages.join(' or ')}` }] : []),
    ],
    approvalsRequired: policy.approvalsRequired,
    approvalTtlMinutes: policy.approvalTtlMinutes,
  });
  const router = Router();
  const [kindsRoute, riskRoute] = ACTION_KINDS_API;
  router.get(kindsRoute.path, requireRole(...kindsRoute.roles), (_req, res) => {
    res.json(list);
  });
  router.get(riskRoute.path, requireRole(...riskRoute.roles), (_req, res) => {
    res.json(risk);
  });
  return router;
}
