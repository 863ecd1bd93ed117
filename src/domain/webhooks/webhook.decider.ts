import { eventMetadata, type CommandMetadata, type Decider } from '../shared/event.js';
import { stampingVersions } from '../upcasters.js';
import type { WebhookEvent } from './webhook.events.js';

export type WebhookCommand =
  | { type: 'SuspendWebhookDelivery'; data: { subscriptionId: string; eventId: string; position: string; attempts: number; error: string }; metadata: CommandMetadata }
  | { type: 'ResumeWebhookDelivery'; data: { subscriptionId: string }; metadata: CommandMetadata };

export type WebhookState = { status: 'delivering' } | { status: 'suspended'; eventId: string };

export const initialWebhookState: WebhookState = { status: 'delivering' };

export function evolveWebhook(state: WebhookState, event: WebhookEvent): WebhookState {
  switch (event.type) {
    case 'WebhookDeliverySuspended':
      return { status: 'suspended', eventId: event.data.eventId };
    case 'WebhookDeliveryResumed':
      return { status: 'delivering' };
    default: {
      const _exhaustive: never = event;
      return state;
    }
  }
}

/**
 * Records what delivery did, so nothing is refused: a suspension already recorded at the same event
 * is not recorded twice, and resuming what is not suspended records nothing.
 */
export function decideWebhook(command: WebhookCommand, state: WebhookState): WebhookEvent[] {
  const metadata = eventMetadata(command.metadata);
  switch (command.type) {
    case 'SuspendWebhookDelivery':
      return state.status === 'suspended' && state.eventId === command.data.eventId ? [] : [{ type: 'WebhookDeliverySuspended', data: command.data, metadata }];
    case 'ResumeWebhookDelivery':
      return state.status !== 'suspended' ? [] : [{ type: 'WebhookDeliveryResumed', data: { subscriptionId: command.data.subscriptionId, eventId: state.eventId }, metadata }];
    default: {
      const _exhaustive: never = command;
      throw new Error(`unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

export const webhookDecider: Decider<WebhookCommand, WebhookEvent, WebhookState> = stampingVersions({
  snapshot: { name: 'webhook', version: 1 },
  initialState: initialWebhookState,
  evolve: evolveWebhook,
  decide: decideWebhook,
});
