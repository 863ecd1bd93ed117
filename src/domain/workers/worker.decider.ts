import { eventMetadata, type CommandMetadata, type Decider } from '../shared/event.js';
import { stampingVersions } from '../upcasters.js';
import type { JobDeadLettered, WorkerEvent } from './worker.events.js';

export type WorkerCommand =
  | { type: 'RecordWorkerStarted'; data: { workerId: string; host: string; pid: number; queues: string[]; version: string }; metadata: CommandMetadata }
  | { type: 'RecordWorkerStopped'; data: { reason: string }; metadata: CommandMetadata }
  | { type: 'RecordJobDeadLettered'; data: Omit<JobDeadLettered, 'workerId'>; metadata: CommandMetadata };

export type WorkerState = { status: 'none' } | { status: 'running' | 'stopped'; workerId: string };

export const initialWorkerState: WorkerState = { status: 'none' };

export function evolveWorker(state: WorkerState, event: WorkerEvent): WorkerState {
  switch (event.type) {
    case 'WorkerStarted':
      return { status: 'running', workerId: event.data.workerId };
    case 'WorkerStopped':
      return state.status === 'none' ? state : { ...state, status: 'stopped' };
    case 'JobDeadLettered':
      return state; // recorded for operators; it changes nothing a later decision needs
    default: {
      const _exhaustive: never = event;
      return state;
    }
  }
}

/**
 * A worker's record of itself. It records what happened, so nothing is refused; a stop already
 * recorded is not recorded twice, and a worker that never recorded its start records nothing.
 */
export function decideWorker(command: WorkerCommand, state: WorkerState): WorkerEvent[] {
  const metadata = eventMetadata(command.metadata);
  switch (command.type) {
    case 'RecordWorkerStarted':
      return state.status === 'running' ? [] : [{ type: 'WorkerStarted', data: command.data, metadata }];
    case 'RecordWorkerStopped':
      return state.status !== 'running' ? [] : [{ type: 'WorkerStopped', data: { workerId: state.workerId, reason: command.data.reason }, metadata }];
    case 'RecordJobDeadLettered':
      return state.status === 'none' ? [] : [{ type: 'JobDeadLettered', data: { workerId: state.workerId, ...command.data }, metadata }];
    default: {
      const _exhaustive: never = command;
      throw new Error(`unknown command ${(_exhaustive as { type: string }).type}`);
    }
  }
}

export const workerDecider: Decider<WorkerCommand, WorkerEvent, WorkerState> = stampingVersions({
  snapshot: { name: 'worker', version: 1 },
  initialState: initialWorkerState,
  evolve: evolveWorker,
  decide: decideWorker,
});
