import { webhookDecider, type WebhookCommand } from '../../../src/domain/webhooks/webhook.decider.js';
import type { WebhookEvent } from '../../../src/domain/webhooks/webhook.events.js';
import type { CommandMetadata } from '../../../src/domain/shared/event.js';
import { deciderSpec } from '../../support/decider-spec.js';

const given = deciderSpec(webhookDecider);
const at = '2026-12-04T10:00:00.000Z';
const actor = { kind: 'worker' as const, id: 'w1' };
const metadata: CommandMetadata = { actor, now: at, correlationId: 'c1', causationId: 'c1' };
const meta = { actor, correlationId: 'c1', causationId: 'c1', occurredAt: at, schemaVersion: 1 };
const cmd = (type: WebhookCommand['type'], data: object) => ({ type, data, metadata }) as WebhookCommand;

const suspension = { subscriptionId: 's1', eventId: 'e1', position: '00000000000000010000000000000001', attempts: 11, error: 'connection refused' };
const suspended: WebhookEvent = { type: 'WebhookDeliverySuspended', data: suspension, metadata: meta };
const resumed: WebhookEvent = { type: 'WebhookDeliveryResumed', data: { subscriptionId: 's1', eventId: 'e1' }, metadata: meta };

describe('Webhook decider', () => {
  it('records a suspension at an event once, and a later one at another event', () => {
    given([]).when(cmd('SuspendWebhookDelivery', suspension)).then([suspended]);
    given([suspended]).when(cmd('SuspendWebhookDelivery', suspension)).then([]);
    given([suspended, resumed]).when(cmd('SuspendWebhookDelivery', suspension)).then([suspended]);
    given([suspended]).when(cmd('SuspendWebhookDelivery', { ...suspension, eventId: 'e2' })).then([{ ...suspended, data: { ...suspension, eventId: 'e2' } }]);
  });
  it('records a resume, naming the event delivery starts again with, only when suspended', () => {
    given([suspended]).when(cmd('ResumeWebhookDelivery', { subscriptionId: 's1' })).then([resumed]);
    given([]).when(cmd('ResumeWebhookDelivery', { subscriptionId: 's1' })).then([]);
    given([suspended, resumed]).when(cmd('ResumeWebhookDelivery', { subscriptionId: 's1' })).then([]);
  });
});
