import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { PostgresEventStore } from '../src/eventstore/postgres/postgres-event-store.js';
import { createApiKey } from '../src/http/api-keys.js';
import { createKnex } from '../src/platform/database.js';
import { silentLogger } from '../src/platform/logger.js';
import { PROJECTIONS, ensureProjections } from '../src/projections/index.js';
import { rebuildProjection, rebuildProjections } from '../src/projections/runtime/runner.js';
import { seedLog } from '../test/support/seed-log.js';
import { waitForReady } from './http.bench.js';
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
    await rebuildProjections(PROJECTIONS, deps, new AbortController().signal);
    results.rebuildAll = { ...summarize(events, (performance.now() - started) / 1000, []), projections: PROJECTIONS.length };
    log(`rebuild all ${PROJECTIONS.length} together (one read of the log): ${events} log events in ${results.rebuildAll.seconds} s`);
  } finally {
    await store.close();
    await knex.destroy();
  }
  return results;
}

/**
 * Command to visible in a query, over HTTP: the API and a projector in processes of their own; a
 * note is added to a deal `rate` times a second (open loop), and each is followed at once by
 * GET /api/deals/:id with the command's position. Latency runs from sending the command to the
 * query's answer; an answer marked stale counts as a miss.
 */
export async function benchVisibility(options: { databaseUrl: string; seconds: number; rate: number; log: (line: string) => void }): Promise<Figures> {
  const { databaseUrl, seconds, rate, log } = options;
  const knex = createKnex(databaseUrl, 2);
  const { key } = await createApiKey(knex, `bench-visibility-${Date.now()}`, 'operator');
  await knex.destroy();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const env = { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'warn' };
  const children: ChildProcess[] = ['api', 'projector'].map((role) =>
    spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ') ?? []), '--import', 'tsx', 'src/cli/main.ts', role], { env, stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitForReady(base);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const deals: string[] = [];
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${base}/api/deals`, { method: 'POST', headers, body: JSON.stringify({ name: `Visible ${i}`, company: 'Bench Ltd', amount: { amount: '1000.00', currency: 'USD' } }) });
      deals.push(res.headers.get('location')!.split('/').pop()!);
    }

    log(`visibility: a command then a query with its position, ${rate}/s for ${seconds}s`);
    const latencies: number[] = [];
    const commandLatencies: number[] = [];
    let stale = 0;
    let failed = 0;
    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; performance.now() - started < seconds * 1000; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const deal = deals[i % deals.length]!;
      inFlight.push(
        (async () => {
          const sent = performance.now();
          try {
            const command = await fetch(`${base}/api/deals/${deal}/notes`, { method: 'POST', headers, body: JSON.stringify({ text: `Note ${i}` }) });
            const { position } = (await command.json()) as { position: string };
            commandLatencies.push(performance.now() - sent);
            const query = await fetch(`${base}/api/deals/${deal}`, { headers: { ...headers, 'x-position': position } });
            await query.arrayBuffer();
            if (!command.ok || !query.ok) { failed++; if (failed < 5) log(`failed: ${command.status} ${query.status} ${await query.text().catch(() => '')}`); }
            else if (query.headers.get('x-stale') !== 'false') stale++;
            latencies.push(performance.now() - sent);
          } catch (error) {
            if (failed < 5) log(`error: ${(error as Error).message} ${String((error as Error).cause)}`);
            failed++; // an overloaded machine refuses or times out connections: count it, go on
          }
        })(),
      );
    }
    await Promise.all(inFlight);
    const commands = summarize(commandLatencies.length, 1, commandLatencies);
    return { ...summarize(latencies.length, (performance.now() - started) / 1000, latencies), commandP50Ms: commands.p50Ms, commandP99Ms: commands.p99Ms, stale, failed, rate };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
  }
}
