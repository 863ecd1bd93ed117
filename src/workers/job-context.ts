import type { Job } from 'bullmq';
import { derivedUuid } from '../commands/event-ids.js';
import { handleCommand, type CommandResult, type StreamStates } from '../commands/handle-command.js';
import type { CommandMetadata, Decider, DomainEvent, OnBehalfOf } from '../domain/shared/event.js';
import type { EventStore } from '../eventstore/contract.js';
import type { Logger } from '../platform/logger.js';
import type { OutboundGuard } from '../platform/outbound-guard.js';
import type { JobBase } from './jobs.js';

export interface WorkerSettings {
  agentRunIdleMs: number;
  http: { executors: Record<string, string>; secret: string; timeoutMs: number };
  /** The waits before each retry of an undelivered webhook event (WEBHOOK_RETRY_SCHEDULE). */
  webhookRetrySchedule: readonly number[];
  /** Decider state is snapshotted every this many events of a stream (SNAPSHOT_EVERY). */
  snapshotEvery?: number;
}

/** What processors share in one worker process. */
export interface WorkerDependencies {
  eventStore: EventStore;
  logger: Logger;
  workerId: string;
  settings: WorkerSettings;
  /** Every call out (webhooks, the http executor) goes through it. */
  outbound: OutboundGuard;
  /** The streams this process's commands wrote, and their snapshots. */
  streams: StreamStates;
}

/**
 * One run of one job. Processors report what they did only by sending commands, as this worker; the
 * events of each step have ids derived from the job and the step, so a job that runs again (its
 * worker died, or it was added again) finds its steps done and appends nothing twice.
 */
export class JobContext {
  constructor(
    readonly deps: WorkerDependencies,
    readonly job: Job<JobBase>,
    /** Aborted when the worker shuts down and gives the job back. */
    readonly signal: AbortSignal,
  ) {}

  /**
   * The metadata of the job's commands: this worker acts, caused by the job's event (for an action's
   * execution, the event that approved it, or an operator's retry), and on an action's behalf when
   * it executes one.
   */
  metadata(onBehalfOf?: OnBehalfOf): CommandMetadata {
    return {
      actor: { kind: 'worker', id: this.deps.workerId },
      now: new Date().toISOString(),
      // A job the relay made carries its event; a webhook delivery run is its own cause.
      correlationId: this.job.data.correlationId ?? this.job.id!,
      causationId: this.job.data.eventId ?? this.job.id!,
      ...(onBehalfOf ? { onBehalfOf } : {}),
    };
  }

  send<C extends { type: string }, E extends DomainEvent, S>(
    streamId: string,
    decider: Decider<C, E, S>,
    command: Omit<C, 'metadata'>,
    step: string,
    { onBehalfOf }: { onBehalfOf?: OnBehalfOf } = {},
  ): Promise<CommandResult<E>> {
    return handleCommand(this.deps.eventStore, streamId, decider, { ...command, metadata: this.metadata(onBehalfOf) } as unknown as C, {
      eventIdFor: (index) => derivedUuid(this.job.id!, step, String(index)),
      known: this.deps.streams,
    });
  }
}
