import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { PostgresEventStore } from '../src/eventstore/postgres/postgres-event-store.js';
import { createApiKey } from '../test/support/principals.js';
import { createKnex } from '../src/platform/database.js';
import { silentLogger } from '../src/platform/logger.js';
import { PROJECTIONS, ensureProjections } from '../src/projections/index.js';
import { rebuildProjection, rebuildProjections } from '../src/projections/runtime/runner.js';
import { seedLog } from '../test/support/seed-log.js';
import { waitForReady } from './http.bench.js';
import { dropQueues } from './workers.bench.js';
import { round, summarize, type Figures } from './stats.js';

/**
 * Rebuild throughput: a realistic log of about `events` events, then every projection rebuilt from
 * it, one at a time (events it applied per second), and all together with one read of the log, as
 * `dealstream projections rebuild` does (log events per second).
 */
export async function benchRebuild(options: { databaseUrl: string; events: number; log: (line: string) => void }): Promise<Record<string, Figures>> {
  const { databaseUrl, log } = options;
  const store = new PostgresEventStore({ connectionString: databaseUrl });
  const knex = createKnex(databaseUrl, 8);
  const results: Record<string, Figures> = {};
  try {
    log(`rebuild: seeding about ${options.events} events`);
    const seedStarted = performance.now();
    // About 16.5 events per deal: creation, notes, stage moves, an action, every tenth an agent run.
    const { events } = await seedLog(store, { deals: Math.ceil(options.events / 16.5), concurrency: 8 });
    log(`rebuild: seeded ${events} events in ${round((performance.now() - seedStarted) / 1000)} s`);
    await ensureProjections(knex);
    const deps = { knex, eventStore: store, logger: silentLogger(), databaseUrl, batchSize: 2000 };

    for (const projection of PROJECTIONS) {
      const started = performance.now();
      const generation = await rebuildProjection(projection, deps, new AbortController().signal);
      const seconds = (performance.now() - started) / 1000;
      const applied = Number((await knex('projection_generations').where('schema_name', generation.schema).first('events_applied'))!.events_applied);
      results[`rebuild ${projection.name}`] = summarize(applied, seconds, []);
      log(`rebuild ${projection.name}: ${applied} events in ${round(seconds)} s`);
    }
    const started = performance.now();
    // The whole log is replayed: after other phases of the bench it holds their events too.
    let replayed = 0;
    await rebuildProjections(PROJECTIONS, deps, new AbortController().signal, (count) => (replayed = count));
    results.rebuildAll = { ...summarize(replayed, (performance.now() - started) / 1000, []), projections: PROJECTIONS.length };
    log(`rebuild all ${PROJECTIONS.length} together (one read of the log): ${replayed} log events in ${results.rebuildAll.seconds} s`);
  } finally {
    await store.close();
    await knex.destroy();
  }
  return results;
}

/**
 * Command to visible in a query, over HTTP: the API and a projector in processes of their own, as
 * `npm start` runs them (compiled). A note is added to a deal `rate` times a second (open loop), and
 * each is followed at once by GET /api/deals/:id with the command's position. Latency runs from
 * sending the command to the query's answer; an answer marked stale counts as a miss. The first
 * `warmupSeconds` at the same rate are not counted: they measure connection pools filling and the
 * JIT compiling, not the steady state.
 */
export async function benchVisibility(options: { databaseUrl: string; seconds: number; warmupSeconds: number; rate: number; log: (line: string) => void }): Promise<Figures> {
  const { databaseUrl, seconds, rate, log } = options;
  const knex = createKnex(databaseUrl, 2);
  const { key } = await createApiKey(knex, `bench-visibility-${Date.now()}`, 'operator');
  await knex.destroy();
  execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { stdio: 'inherit' });
  const port = 20000 + Math.floor(Math.random() * 20000);
  // The API opens the job queues: under a prefix of the bench's own, deleted at the end.
  const queuePrefix = `dsbench-visibility-${process.pid}`;
  const env = { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'warn', QUEUE_PREFIX: queuePrefix };
  // BENCH_NODE_ARGS passes flags to both, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them.
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const children: ChildProcess[] = ['api', 'projector'].map((role) =>
    spawn(process.execPath, [...nodeArgs, 'bin/dealstream.js', role], { env, stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  // undici's pool directly: fetch costs several times more CPU, on the cores the system under test needs.
  const base = `http://127.0.0.1:${port}`;
  const pool = new Pool(base, { connections: 64 });
  try {
    await waitForReady(base);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const deals: string[] = [];
    for (let i = 0; i < 100; i++) {
      const res = await pool.request({ path: '/api/deals', method: 'POST', headers, body: JSON.stringify({ name: `Visible ${i}`, company: 'Bench Ltd', amount: { amount: '1000.00', currency: 'USD' } }) });
      await res.body.dump();
      deals.push(String(res.headers.location).split('/').pop()!);
    }

    const latencies: number[] = [];
    const commandLatencies: number[] = [];
    let stale = 0;
    let failed = 0;
    const commandThenQuery = async (i: number, record: boolean) => {
      const deal = deals[i % deals.length]!;
      const sent = performance.now();
      try {
        const command = await pool.request({ path: `/api/deals/${deal}/notes`, method: 'POST', headers, body: JSON.stringify({ text: `Note ${i}` }) });
        const { position } = (await command.body.json()) as { position: string };
        const commandMs = performance.now() - sent;
        const query = await pool.request({ path: `/api/deals/${deal}`, method: 'GET', headers: { ...headers, 'x-position': position } });
        const answer = await query.body.text();
        if (!record) return;
        if (command.statusCode >= 300 || query.statusCode !== 200) {
          if (failed++ < 3) log(`failed: command ${command.statusCode}, query ${query.statusCode} ${answer.slice(0, 200)}`);
        } else if (query.headers['x-stale'] !== 'false') stale++;
        commandLatencies.push(commandMs);
        latencies.push(performance.now() - sent);
      } catch (error) {
        // An overloaded machine refuses or times out connections: count it, go on.
        if (record && failed++ < 3) log(`failed: ${(error as Error).message}`);
      }
    };
    const atRate = async (phaseSeconds: number, record: boolean) => {
      const started = performance.now();
      const inFlight: Promise<void>[] = [];
      for (let i = 0; performance.now() - started < phaseSeconds * 1000; i++) {
        const wait = started + (i * 1000) / rate - performance.now();
        if (wait > 0) await sleep(wait);
        inFlight.push(commandThenQuery(i, record));
      }
      await Promise.all(inFlight);
      return (performance.now() - started) / 1000;
    };

    log(`visibility: a command then a query with its position, ${rate}/s, ${options.warmupSeconds}s of warm-up then ${seconds}s`);
    await atRate(options.warmupSeconds, false);
    const elapsed = await atRate(seconds, true);
    const commands = summarize(commandLatencies.length, 1, commandLatencies);
    return { ...summarize(latencies.length, elapsed, latencies), commandP50Ms: commands.p50Ms, commandP99Ms: commands.p99Ms, stale, failed, rate };
  } finally {
    await pool.close();
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
    await dropQueues(queuePrefix);
  }
}
