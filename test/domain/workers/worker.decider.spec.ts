import { workerDecider, type WorkerCommand } from '../../../src/domain/workers/worker.decider.js';
import type { WorkerEvent } from '../../../src/domain/workers/worker.events.js';
import type { CommandMetadata } from '../../../src/domain/shared/event.js';
import { deciderSpec } from '../../support/decider-spec.js';

const given = deciderSpec(workerDecider);
const at = '2026-11-22T10:00:00.000Z';
const actor = { kind: 'worker' as const, id: 'w1' };
const metadata: CommandMetadata = { actor, now: at, correlationId: 'w1', causationId: 'w1' };
const meta = { actor, correlationId: 'w1', causationId: 'w1', occurredAt: at, schemaVersion: 1 };
const cmd = (type: WorkerCommand['type'], data: object) => ({ type, data, metadata }) as WorkerCommand;

const startData = { workerId: 'w1', host: 'vm', pid: 42, queues: ['actions'], version: '0.1.0' };
const started: WorkerEvent = { type: 'WorkerStarted', data: startData, metadata: meta };
const stopped: WorkerEvent = { type: 'WorkerStopped', data: { workerId: 'w1', reason: 'SIGTERM' }, metadata: meta };
const deadLetter = { queue: 'actions', jobId: 'execute-action_e1', jobName: 'execute-action', data: { actionId: 'a1', eventId: 'e1' }, attempts: 5, error: 'boom', eventId: 'e1' };

describe('Worker decider', () => {
  it('records a start, and a start already recorded once only', () => {
    given([]).when(cmd('RecordWorkerStarted', startData)).then([started]);
    given([started]).when(cmd('RecordWorkerStarted', startData)).then([]);
  });
  it('records a stop of a running worker, once', () => {
    given([started]).when(cmd('RecordWorkerStopped', { reason: 'SIGTERM' })).then([stopped]);
    given([started, stopped]).when(cmd('RecordWorkerStopped', { reason: 'again' })).then([]);
    given([]).when(cmd('RecordWorkerStopped', { reason: 'never started' })).then([]);
  });
  it('records a dead-lettered job with what it takes to replay it', () =>
    given([started]).when(cmd('RecordJobDeadLettered', deadLetter)).then([{ type: 'JobDeadLettered', data: { workerId: 'w1', ...deadLetter }, metadata: meta }]));
});
