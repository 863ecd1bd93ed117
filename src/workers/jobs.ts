import type { RecordedEvent } from '../eventstore/contract.js';

/** The queues, by what their jobs touch. */
export const QUEUES = ['actions', 'approvals', 'agent-runs'] as const;
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
  'settle-run-cost': JobBase & { agentId: string; runId: string };
}
export type JobName = keyof JobData;

export const JOB_QUEUES: Record<JobName, QueueName> = {
  'execute-action': 'actions',
  'expire-approval': 'approvals',
  'watch-run': 'agent-runs',
  'settle-run-cost': 'agent-runs',
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

/**
 * What the workers do about each event:
 * - an approved action is executed;
 * - a pending approval gets a job at its deadline that expires it if it is still pending;
 * - each sign of life of an agent run gets a watchdog job, `agentRunIdleMs` later, that fails the
 *   run if it has been silent since;
 * - a finished run's cost is settled on its agent's ledger (the API settles it too; whichever
 *   comes second finds it done).
 */
export function reactionsTo(event: RecordedEvent, settings: ReactionSettings): JobToAdd[] {
  const data = event.data as Record<string, string>;
  switch (event.type) {
    case 'ActionApproved':
      return [job('execute-action', event, { actionId: data.actionId! })];
    case 'ActionApprovalRequested':
      return [job('expire-approval', event, { actionId: data.actionId!, expiresAt: data.expiresAt! }, Date.parse(data.expiresAt!) - settings.now)];
    case 'AgentRunStarted':
    case 'AgentToolCalled': {
      const lastActivity = Date.parse(String(event.metadata.occurredAt));
      return [job('watch-run', event, { agentId: data.agentId!, runId: data.runId! }, lastActivity + settings.agentRunIdleMs - settings.now)];
    }
    case 'AgentRunCompleted':
    case 'AgentRunFailed':
      return event.data.cost ? [job('settle-run-cost', event, { agentId: data.agentId!, runId: data.runId! })] : [];
    default:
      return [];
  }
}

/** The event types that make jobs: the relay reads only these. */
export const REACTING_TO = ['ActionApproved', 'ActionApprovalRequested', 'AgentRunStarted', 'AgentToolCalled', 'AgentRunCompleted', 'AgentRunFailed'];
