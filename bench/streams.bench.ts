import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Pool } from 'undici';
import { StreamStates, loadStream } from '../src/commands/handle-command.js';
import { GENESIS_HASH, chainEvents } from '../src/commands/hash-chain.js';
import { DEFAULT_SNAPSHOT_EVERY, SnapshotWriter } from '../src/commands/snapshots.js';
import { dealDecider, type DealCommand } from '../src/domain/deals/deal.decider.js';
import type { DealEvent } from '../src/domain/deals/deal.events.js';
import type { EventStore, JsonObject } from '../src/eventstore/contract.js';
import { PostgresEventStore } from '../src/eventstore/postgres/postgres-event-store.js';
import { createKnex } from '../src/platform/database.js';
import { silentLogger } from '../src/platform/logger.js';
import { createApiKey } from '../test/support/principals.js';
import { waitForReady } from './http.bench.js';
import { round, summarize, type Figures } from './stats.js';
import { dropQueues } from './workers.bench.js';

/** Events appended per statement while seeding a long stream. */
const SEED_BATCH = 1000;
/** Uncounted commands before a phase: the first ones load the streams and warm the JIT. */
const WARMUP = 5;

/**
 * A command's cost against its stream's length (issue 15). A deal stream of `longEvents` events
 * (its creation and notes, decided by the deal decider, hash-chained and appended 1,000 at a time)
 * and deals of 10 events as the baseline; POST /api/deals/:id/notes through API processes of their
 * own (compiled, as deployed), one request at a time:
 * - warm: one process, repeatedly (it remembers the streams it wrote);
 * - fresh: `freshProcesses` new processes, each warmed on a deal of its own, then its first
 *   command on the long stream and on a new 10-event one (in turn first);
 * - alternating: two processes taking turns, as behind a load balancer (each catches up with the
 *   other's last event).
 * Each long-stream phase has its 10-event twin, measured in the same loop.
 * Hot stream: `hotRounds` rounds of `hotConcurrency` concurrent notes on one deal, through one
 * process and then spread over two; refused counts every answer but 2xx.
 */
export async function benchStreams(options: {
  databaseUrl: string;
  seconds: number;
  longEvents: number;
  freshProcesses: number;
  hotRounds: number;
  hotConcurrency: number;
  log: (line: string) => void;
}): Promise<Record<string, Figures>> {
  const { databaseUrl, seconds, longEvents, log } = options;
  const knex = createKnex(databaseUrl, 2);
  const { key } = await createApiKey(knex, `bench-streams-${Date.now()}`, 'operator');
  await knex.destroy();
  const store = new PostgresEventStore({ connectionString: databaseUrl });
  execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { stdio: 'inherit' });
  // The APIs open the job queues: under a prefix of the bench's own, deleted at the end.
  const queuePrefix = `dsbench-streams-${process.pid}`;
  const apis: Api[] = [];
  const results: Record<string, Figures> = {};
  try {
    log(`streams: seeding a deal stream of ${longEvents} events`);
    const seedStarted = performance.now();
    const long = await seedDeal(store, longEvents);
    const short = await seedDeal(store, 10);
    log(`streams: seeded in ${round((performance.now() - seedStarted) / 1000)} s`);

    const env = { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', QUEUE_PREFIX: queuePrefix };
    const [a, b] = await Promise.all([startApi(env), startApi(env)]);
    apis.push(a!, b!);
    const note = notes(key);

    log(`streams: warm, one API process, ${seconds}s`);
    for (let i = 0; i < WARMUP; i++) await Promise.all([note(a!, long), note(a!, short)]);
    const warm = await timed(seconds, async () => ({ long: await note(a!, long), short: await note(a!, short) }));
    results['long stream, warm'] = { ...warm.long, streamEvents: longEvents };
    results['10 events, warm'] = warm.short;

    log(`streams: alternating between two API processes, ${seconds}s`);
    for (let i = 0; i < WARMUP; i++) for (const api of [a!, b!]) await Promise.all([note(api, long), note(api, short)]);
    let turn = 0;
    const alternating = await timed(seconds, async () => {
      const api = turn++ % 2 ? b! : a!;
      return { long: await note(api, long), short: await note(api, short) };
    });
    results['long stream, alternating'] = { ...alternating.long, streamEvents: longEvents };
    results['10 events, alternating'] = alternating.short;

    log(`streams: the first command of ${options.freshProcesses} fresh API processes`);
    const fresh = { long: [] as number[], short: [] as number[] };
    const freshStarted = performance.now();
    for (let i = 0; i < options.freshProcesses; i++) {
      const api = await startApi(env);
      apis.push(api);
      const own = await seedDeal(store, 10);
      for (let w = 0; w < 20; w++) await note(api, own);
      const newShort = await seedDeal(store, 10);
      const order = i % 2 ? (['short', 'long'] as const) : (['long', 'short'] as const);
      for (const which of order) fresh[which].push(await note(api, which === 'long' ? long : newShort));
      await stopApi(api);
    }
    const freshSeconds = (performance.now() - freshStarted) / 1000;
    results['long stream, fresh process'] = { ...summarize(fresh.long.length, freshSeconds, fresh.long), streamEvents: longEvents, max: round(Math.max(...fresh.long)) };
    results['10 events, fresh process'] = { ...summarize(fresh.short.length, freshSeconds, fresh.short), max: round(Math.max(...fresh.short)) };

    for (const spread of [1, 2]) {
      const label = spread === 1 ? 'hot stream, one API' : 'hot stream, two APIs';
      log(`streams: ${label}, ${options.hotRounds} rounds of ${options.hotConcurrency} concurrent notes on one deal`);
      const hot = await seedDeal(store, 1);
      const latencies: number[] = [];
      const refusals = new Map<number, number>();
      let refused = 0;
      const started = performance.now();
      for (let round = 0; round < options.hotRounds; round++) {
        await Promise.all(
          Array.from({ length: options.hotConcurrency }, async (_, i) => {
            const sent = performance.now();
            const status = await noteStatus(key, apis[i % spread]!, hot);
            latencies.push(performance.now() - sent);
            if (status < 200 || status >= 300) {
              refused++;
              refusals.set(status, (refusals.get(status) ?? 0) + 1);
            }
          }),
        );
      }
      results[label] = { ...summarize(latencies.length, (performance.now() - started) / 1000, latencies), refused, concurrency: options.hotConcurrency, rounds: options.hotRounds };
      if (refused) log(`streams: ${label}: refused ${[...refusals].map(([status, n]) => `${n} with ${status}`).join(', ')}`);
    }
  } finally {
    await Promise.all(apis.map(stopApi));
    await dropQueues(queuePrefix);
    await store.close();
  }
  return results;
}

interface Api {
  child: ChildProcess;
  pool: Pool;
}

async function startApi(env: Record<string, string>): Promise<Api> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, ['bin/dealstream.js', 'api'], { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  await waitForReady(base);
  return { child, pool: new Pool(base, { connections: 64 }) };
}

async function stopApi(api: Api): Promise<void> {
  await api.pool.close().catch(() => undefined);
  if (api.child.exitCode !== null || api.child.signalCode !== null) return;
  api.child.kill('SIGTERM');
  await once(api.child, 'exit');
}

/** POST a note; its status. */
async function noteStatus(key: string, api: Api, dealId: string): Promise<number> {
  const res = await api.pool.request({
    path: `/api/deals/${dealId}/notes`,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'Call went well; follow up on the data room.' }),
  });
  await res.body.dump();
  return res.statusCode;
}

/** POST a note that must succeed; its latency in ms. */
function notes(key: string) {
  return async (api: Api, dealId: string): Promise<number> => {
    const sent = performance.now();
    const status = await noteStatus(key, api, dealId);
    if (status !== 200) throw new Error(`streams: a note on ${dealId} answered ${status}`);
    return performance.now() - sent;
  };
}

/** Runs `step` one after another for `seconds`; the latencies of each part as figures. */
async function timed<K extends string>(seconds: number, step: () => Promise<Record<K, number>>): Promise<Record<K, Figures>> {
  const latencies = {} as Record<K, number[]>;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    for (const [part, ms] of Object.entries(await step()) as [K, number][]) (latencies[part] ??= []).push(ms);
  }
  const elapsed = (performance.now() - started) / 1000;
  return Object.fromEntries(Object.entries(latencies).map(([part, ms]) => [part, summarize((ms as number[]).length, elapsed, ms as number[])])) as Record<K, Figures>;
}

/**
 * A deal of `events` events (its creation, then notes), decided by the deal decider, chained and
 * appended SEED_BATCH at a time straight through the store: the stream a deal gets after a long life,
 * with the snapshot that life would have left.
 */
async function seedDeal(store: EventStore, events: number): Promise<string> {
  const dealId = randomUUID();
  const streamId = `deal-${dealId}`;
  let state = dealDecider.initialState;
  let prevHash = GENESIS_HASH;
  let expectedRevision: bigint | 'no_stream' = 'no_stream';
  const at = Date.now() - events * 1000;
  const metadata = (i: number) => ({ actor: { kind: 'user' as const, id: 'bench' }, now: new Date(at + i * 1000).toISOString(), correlationId: randomUUID(), causationId: randomUUID() });
  for (let start = 0; start < events; start += SEED_BATCH) {
    const decided: (DealEvent & { id: string })[] = [];
    for (let i = start; i < Math.min(events, start + SEED_BATCH); i++) {
      const command: DealCommand =
        i === 0
          ? { type: 'CreateDeal', data: { dealId, name: 'Long life', company: 'Bench Ltd', amount: { amount: '1000000.00', currency: 'USD' }, ownerId: 'bench', tags: [] }, metadata: metadata(i) }
          : { type: 'AddDealNote', data: { noteId: randomUUID(), text: `Note ${i}: call went well; follow up on the data room.` }, metadata: metadata(i) };
      for (const event of dealDecider.decide(command, state)) {
        state = dealDecider.evolve(state, event);
        decided.push({ ...event, id: randomUUID() });
      }
    }
    const chained = chainEvents(streamId, prevHash, decided);
    prevHash = chained.at(-1)!.metadata.hash;
    const result = await store.append(streamId, chained.map(({ id, type, data, metadata }) => ({ id, type, data: data as JsonObject, metadata: metadata as unknown as JsonObject })), { expectedRevision });
    expectedRevision = result.nextRevision;
  }
  // As a process that had read it would leave it (processes snapshot whatever they fold at length).
  const known = new StreamStates(new SnapshotWriter(DEFAULT_SNAPSHOT_EVERY, silentLogger()));
  await loadStream(store, streamId, dealDecider, known);
  await known.snapshots!.idle();
  return dealId;
}
