import { randomUUID } from 'node:crypto';
import { OutboundGuard } from '../src/platform/outbound-guard.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleCommand, loadStream } from '../src/commands/handle-command.js';
import { actionDecider } from '../src/domain/actions/action.decider.js';
import { dealDecider } from '../src/domain/deals/deal.decider.js';
import type { DealState } from '../src/domain/deals/deal.state.js';
import { PostgresEventStore } from '../src/eventstore/postgres/postgres-event-store.js';
import { createKnex } from '../src/platform/database.js';
import { silentLogger } from '../src/platform/logger.js';
import { createRedis } from '../src/platform/redis.js';
import { jobId } from '../src/workers/jobs.js';
import { RELAY_NAME } from '../src/workers/relay.js';
import { openQueues, startWorkerHost, type WorkerHost } from '../src/workers/worker-host.js';
import { round, summarize, type Figures } from './stats.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every key of the queues under `prefix`, on a connection of its own (their users closed theirs). */
export async function dropQueues(prefix: string): Promise<void> {
  const redis = createRedis(REDIS_URL, 'worker');
  const queues = openQueues(redis, prefix);
  for (const q of Object.values(queues)) await q.obliterate({ force: true });
  await Promise.all(Object.values(queues).map((q) => q.close()));
  redis.disconnect();
}
const DEALS = 50;
/** Uncounted, at the same rate: pools filling and the JIT compiling are not the steady state. */
const WARMUP_SECONDS = 2;

/**
 * The BullMQ workers, in this process, on the real event store, Redis (a key prefix of its own)
 * and the worker host as the worker role starts it. Commands are appended through a second event
 * store, so the relay learns of them by NOTIFY, as it does of the API's in a deployment.
 *
 * eventToJobStarted: add_note actions (approved by policy in the same append) proposed `rate` times
 * a second, open loop; latency from the append's commit to the job's processor starting. The
 * processor stamps that instant itself (the occurredAt of its ActionExecutionStarted, the first
 * thing it does), so no observer sits in the path: a QueueEvents listener would add its own read
 * of a Redis stream, and CPU, to what it measures. Both ends are Date.now() of one process, in
 * whole ms. Beside it, cumulative: commit to the relay making the job (the job's timestamp) and to
 * a worker asking Redis for it (processedOn).
 *
 * approvedToExecuted: `actions` approved actions appended 16 at a time as fast as they go; actions
 * executed a second from the first append until the queue has completed them all.
 */
export async function benchWorkers(options: { databaseUrl: string; seconds: number; rate?: number; actions?: number; log: (line: string) => void }): Promise<Record<string, Figures>> {
  const { databaseUrl, seconds, log } = options;
  const rate = options.rate ?? 100;
  const actions = options.actions ?? 2000;
  // BullMQ keeps the last 10,000 completed jobs (jobOptions): more could never all be counted.
  if (actions > 10_000) throw new Error('BENCH_WORKER_ACTIONS: at most 10000');
  const store = new PostgresEventStore({ connectionString: databaseUrl });
  const producer = new PostgresEventStore({ connectionString: databaseUrl, poolMax: 8 });
  const knex = createKnex(databaseUrl, 4);
  const prefix = `dsbench-${process.pid}`;
  const metadata = () => ({ actor: { kind: 'user' as const, id: 'bench' }, now: new Date().toISOString(), correlationId: randomUUID(), causationId: randomUUID() });
  const results: Record<string, Figures> = {};
  let host: WorkerHost | undefined;
  try {
    const deals: { dealId: string; state: DealState }[] = [];
    let head: string | null = null;
    for (let i = 0; i < DEALS; i++) {
      const dealId = randomUUID();
      const data = { dealId, name: `Bench ${i}`, company: 'Bench Ltd', amount: { amount: '250000.00', currency: 'USD' }, ownerId: 'bench', tags: [] };
      ({ position: head } = await handleCommand(producer, `deal-${dealId}`, dealDecider, { type: 'CreateDeal', data, metadata: metadata() }));
      // Proposing reads only the deal's status, stage and amount, which the notes never change:
      // loaded once, so that the producer's share of the CPU stays small and steady.
      deals.push({ dealId, state: (await loadStream(producer, `deal-${dealId}`, dealDecider)).state });
    }
    // The relay starts after the earlier phases' events (the rebuild's log holds actions): they are not this phase's work.
    await knex('relay_checkpoints').insert({ name: RELAY_NAME, position: head }).onConflict('name').merge();

    host = await startWorkerHost({
      eventStore: store,
      knex,
      logger: silentLogger(),
      databaseUrl,
      redisUrl: REDIS_URL,
      prefix,
      concurrency: 8,
      attempts: 3,
      backoffMs: 100,
      lockMs: 30_000,
      shutdownMs: 5000,
      settings: { agentRunIdleMs: 15 * 60_000, http: { executors: {}, secret: '', timeoutMs: 5000 }, webhookRetrySchedule: [5000] },
      outbound: new OutboundGuard(),
    });
    const queue = host.queues.actions;
    const decider = actionDecider();
    /** Proposes an add_note action; when its append committed, and the id of the job it calls for. */
    const propose = async (i: number) => {
      const actionId = randomUUID();
      const { dealId, state: deal } = deals[i % deals.length]!;
      const result = await handleCommand(producer, `action-${actionId}`, decider, {
        type: 'ProposeAction',
        data: { actionId, dealId, kind: 'add_note', title: 'Note', payload: { text: `Bench note ${i}` }, deal },
        metadata: metadata(),
      });
      const committedAt = Date.now();
      const approved = result.events.find((event) => event.type === 'ActionApproved');
      if (!approved) throw new Error('workers: an add_note action was not approved by policy');
      return { actionId, job: jobId('execute-action', approved.id), committedAt };
    };
    /** Waits until the actions queue has finished `expected` jobs (completed or failed); returns how many failed. */
    const finished = async (expected: number): Promise<number> => {
      let last = -1;
      let movedAt = performance.now();
      for (;;) {
        const { completed = 0, failed = 0 } = await queue.getJobCounts('completed', 'failed');
        if (completed + failed >= expected) return failed;
        if (completed + failed !== last) [last, movedAt] = [completed + failed, performance.now()];
        if (performance.now() - movedAt > 30_000) throw new Error(`workers: stuck at ${last} of ${expected} jobs`);
        await sleep(10);
      }
    };

    const atRate = async (phaseSeconds: number) => {
      const started = performance.now();
      const inFlight: ReturnType<typeof propose>[] = [];
      for (let i = 0; performance.now() - started < phaseSeconds * 1000; i++) {
        const wait = started + (i * 1000) / rate - performance.now();
        if (wait > 0) await sleep(wait);
        inFlight.push(propose(i));
      }
      return { probes: await Promise.all(inFlight), seconds: (performance.now() - started) / 1000 };
    };
    log(`workers: add_note actions at ${rate}/s, ${WARMUP_SECONDS}s of warm-up then ${seconds}s; append to job started`);
    const warmup = await atRate(WARMUP_SECONDS);
    const { probes, seconds: elapsed } = await atRate(seconds);
    const failed = await finished(warmup.probes.length + probes.length);
    const started: number[] = [];
    const made: number[] = [];
    const taken: number[] = [];
    for (const probe of probes) {
      const job = await queue.getJob(probe.job);
      for await (const event of store.readStream(`action-${probe.actionId}`)) {
        if (event.type === 'ActionExecutionStarted') started.push(Date.parse(String(event.metadata.occurredAt)) - probe.committedAt);
      }
      if (job?.processedOn) {
        made.push(job.timestamp - probe.committedAt);
        taken.push(job.processedOn - probe.committedAt);
      }
    }
    const [relay, worker] = [summarize(0, 1, made), summarize(0, 1, taken)];
    results.eventToJobStarted = { ...summarize(started.length, elapsed, started), rate, failed, jobMadeP50Ms: relay.p50Ms, jobMadeP99Ms: relay.p99Ms, jobTakenP50Ms: worker.p50Ms, jobTakenP99Ms: worker.p99Ms };

    // Counted from zero: the latency phase's jobs leave the completed set.
    await queue.clean(0, 0, 'completed');
    const failedBefore = (await queue.getJobCounts('failed')).failed ?? 0;
    log(`workers: ${actions} approved actions, 16 appends in flight; first append to all executed`);
    const first = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => { while (next < actions) await propose(next++); }));
    const appended = (performance.now() - first) / 1000;
    const failedAfter = await finished(actions + failedBefore);
    results.approvedToExecuted = { ...summarize(actions, (performance.now() - first) / 1000, []), appendsPerSecond: Math.round(actions / appended), failed: failedAfter - failedBefore };
    log(`workers: appended in ${round(appended)} s, all executed after ${results.approvedToExecuted.seconds} s`);
  } finally {
    await host?.stop('the bench is over');
    await dropQueues(prefix);
    await store.close();
    await producer.close();
    await knex.destroy();
  }
  return results;
}
