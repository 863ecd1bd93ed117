import { UnrecoverableError, type Job } from 'bullmq';
import type { Money } from '../domain/shared/money.js';
import { upcast } from '../domain/upcasters.js';
import type { RecordedEvent } from '../eventstore/contract.js';

/** The queues, by what their jobs touch. */
export const QUEUES = ['actions', 'approvals', 'agent-runs', 'webhooks'] as const;
export type QueueName = (typeof QUEUES)[number];

/** What every job carries: the event it was made for, to trace and to replay it. */
export interface JobBase {
  eventId: string;
  correlationId: string;
  /** How often an operator has replayed the job from the dead letters. */
  replays?: number;
}

export interface JobData {
  'execute-action': JobBase & { actionId: string };
  'expire-approval': JobBase & { actionId: string; expiresAt: string };
  'watch-run': JobBase & { agentId: string; runId: string };
  /** The outcome event's id is the job's eventId; the cost travels with the job. */
  'settle-run-cost': JobBase & { agentId: string; runId: string; cost: Money };
  /** Made by the webhook waker for a subscription, not by the relay for one event (src/integrations/webhooks). */
  'deliver-webhooks': { subscriptionId: string };
}
export type JobName = keyof JobData;

export const JOB_QUEUES: Record<JobName, QueueName> = {
  'execute-action': 'actions',
  'expire-approval': 'approvals',
  'watch-run': 'agent-runs',
  'settle-run-cost': 'agent-runs',
  'deliver-webhooks': 'webhooks',
};

/** A job to add: its id is its handler and its event, so adding it again while Redis holds it adds nothing. */
export interface JobToAdd<N extends JobName = JobName> {
  name: N;
  queue: QueueName;
  id: string;
  data: JobData[N];
  /** Milliseconds from now. */
  delay?: number;
}

export interface ReactionSettings {
  agentRunIdleMs: number;
  now: number;
}

/** BullMQ refuses ':' (and plain integers) in custom ids: handler and event id joined by '_'. */
export const jobId = (name: JobName, eventId: string) => `${name}_${eventId}`;

function job<N extends JobName>(name: N, event: RecordedEvent, data: Omit<JobData[N], keyof JobBase>, delay?: number): JobToAdd<N> {
  return {
    name,
    queue: JOB_QUEUES[name],
    id: jobId(name, event.id),
    data: { eventId: event.id, correlationId: String(event.metadata.correlationId ?? event.id), ...data } as JobData[N],
    ...(delay !== undefined ? { delay: Math.max(0, delay) } : {}),
  };
}

type Reaction = (event: RecordedEvent, data: Record<string, string>, settings: ReactionSettings) => JobToAdd[];
const watch: Reaction = (event, data, settings) => [
  job('watch-run', event, { agentId: data.agentId!, runId: data.runId! }, Date.parse(String(event.metadata.occurredAt)) + settings.agentRunIdleMs - settings.now),
];
const settle: Reaction = (event, data) =>
  event.data.cost ? [job('settle-run-cost', event, { agentId: data.agentId!, runId: data.runId!, cost: event.data.cost as unknown as Money })] : [];

/**
 * What the workers do about each event:
 * - an approved action is executed, and one an operator retries is executed again;
 * - a pending approval gets a job at its deadline that expires it if it is still pending;
 * - each sign of life of an agent run gets a watchdog job, `agentRunIdleMs` later, that fails the
 *   run if it has been silent since;
 * - a finished run's cost is settled on its agent's ledger (the API settles it too; whichever
 *   comes second finds it done).
 */
const REACTIONS: Record<string, Reaction> = {
  ActionApproved: (event, data) => [job('execute-action', event, { actionId: data.actionId! })],
  ActionExecutionRetried: (event, data) => [job('execute-action', event, { actionId: data.actionId! })],
  ActionApprovalRequested: (event, data, settings) => [
    job('expire-approval', event, { actionId: data.actionId!, expiresAt: data.expiresAt! }, Date.parse(data.expiresAt!) - settings.now),
  ],
  AgentRunStarted: watch,
  AgentToolCalled: watch,
  AgentRunCompleted: settle,
  AgentRunFailed: settle,
};

/** The event types that make jobs: the relay reads only these. */
export const REACTING_TO = Object.keys(REACTIONS);

export function reactionsTo(stored: RecordedEvent, settings: ReactionSettings): JobToAdd[] {
  const reaction = REACTIONS[stored.type];
  if (!reaction) return [];
  const event = upcast(stored); // reactions read the current shape of their events
  return reaction(event, event.data as Record<string, string>, settings);
}

/**
 * Whether this run of the job is its last: it failed for good (UnrecoverableError), or it used its
 * last attempt. A job that ends here is dead-lettered, and an action's failure is final.
 */
export function isLastAttempt(job: Job, error: unknown): boolean {
  return error instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
