/**
 * `npm run bench`: measures the event store, the HTTP command API and the workers on the local
 * PostgreSQL, in a database of its own, and prints a table and JSON (also written to bench/results/).
 * BENCH_SECONDS sets each phase's length; BENCH=eventstore, http, rebuild, visibility, workers,
 * streams or console (comma separated) runs some parts; BENCH_REBUILD_EVENTS sets the log size of the rebuild (default
 * 1,000,000); BENCH_RATE the visibility phase's commands a second (default 200) and
 * BENCH_WARMUP_SECONDS its uncounted warm-up at that rate (default 3). The workers run in this
 * process on Redis (REDIS_URL, default redis://127.0.0.1:6379) under a BullMQ prefix of their own;
 * BENCH_WORKER_RATE sets the actions a second of their latency phase (default 100) and
 * BENCH_WORKER_ACTIONS the actions of their throughput phase (default 2000, at most 10,000).
 * BENCH=console times cold loads of the console's inbox in Chromium (BENCH_CONSOLE_LOADS, default 20,
 * with BENCH_CONSOLE_ITEMS pending approvals, default 50) against a blank page, and reports the assets' gzip size.
 * BENCH=streams measures a note command against its stream's length: a deal stream of
 * BENCH_LONG_STREAM_EVENTS events (default 100,000) beside 10-event ones, through one warm API
 * process, BENCH_FRESH_PROCESSES fresh ones (default 3; their first command on the stream) and two
 * taking turns; then BENCH_HOT_ROUNDS rounds (default 20) of BENCH_HOT_CONCURRENCY concurrent notes
 * (default 50) on one deal, through one API and spread over two.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import pg from 'pg';
import { createKnex, migrateLatest } from '../src/platform/database.js';
import { ensureProjections } from '../src/projections/index.js';
import { benchConsole } from './console.bench.js';
import { benchEventStore } from './eventstore.bench.js';
import { benchHttpCommands } from './http.bench.js';
import { benchRebuild, benchVisibility } from './projections.bench.js';
import { round, type Figures } from './stats.js';
import { benchStreams } from './streams.bench.js';
import { benchWorkers } from './workers.bench.js';

const server = process.env.BENCH_DATABASE_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const parts = (process.env.BENCH ?? 'eventstore,http,rebuild,visibility,workers,streams,console').split(',');
const rebuildEvents = Number(process.env.BENCH_REBUILD_EVENTS ?? 1_000_000);
const name = `dealstream_bench_${process.pid}`;
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
/** The phases load one API from one address with one key: far past the default limits, which are off here unless set. */
const RATE_LIMITS = ['RATE_LIMIT_ADDRESS', 'RATE_LIMIT_AUTH_FAILURES', 'RATE_LIMIT_COMMAND', 'RATE_LIMIT_QUERY', 'RATE_LIMIT_EXPORT'];
for (const name of RATE_LIMITS) process.env[name] ??= 'off';

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  await client.query(sql).finally(() => client.end());
}

const url = new URL(server);
url.pathname = '/' + name;
await admin(`CREATE DATABASE ${name}`);
try {
  const knex = createKnex(url.toString(), 2);
  await migrateLatest(knex);
  await ensureProjections(knex);
  await knex.destroy();

  const results: Record<string, Figures> = {};
  if (parts.includes('eventstore')) Object.assign(results, await benchEventStore({ databaseUrl: url.toString(), seconds, writers: 8, streams: 1000, log }));
  if (parts.includes('http')) {
    // The same load twice: rate limits off (the phases' default), then on with budgets no request
    // reaches, so the ratio is what counting every request in Redis costs.
    results.httpCommands = await benchHttpCommands({ databaseUrl: url.toString(), seconds, connections: 32, deals: 1000, log });
    const unreachable = Object.fromEntries(RATE_LIMITS.map((name) => [name, '100000000/60']));
    results.httpCommandsLimited = await benchHttpCommands({ databaseUrl: url.toString(), seconds, connections: 32, deals: 1000, log, env: unreachable });
  }
  if (parts.includes('visibility')) results.commandToQuery = await benchVisibility({ databaseUrl: url.toString(), seconds, warmupSeconds: Number(process.env.BENCH_WARMUP_SECONDS ?? 3), rate: Number(process.env.BENCH_RATE ?? 200), log });
  if (parts.includes('workers')) Object.assign(results, await benchWorkers({ databaseUrl: url.toString(), seconds, rate: Number(process.env.BENCH_WORKER_RATE ?? 100), actions: Number(process.env.BENCH_WORKER_ACTIONS ?? 2000), log }));
  if (parts.includes('console')) Object.assign(results, await benchConsole({ databaseUrl: url.toString(), loads: Number(process.env.BENCH_CONSOLE_LOADS ?? 20), items: Number(process.env.BENCH_CONSOLE_ITEMS ?? 50), log }));
  if (parts.includes('rebuild')) Object.assign(results, await benchRebuild({ databaseUrl: url.toString(), events: rebuildEvents, log }));
  if (parts.includes('streams')) {
    Object.assign(results, await benchStreams({
      databaseUrl: url.toString(),
      seconds,
      longEvents: Number(process.env.BENCH_LONG_STREAM_EVENTS ?? 100_000),
      freshProcesses: Number(process.env.BENCH_FRESH_PROCESSES ?? 3),
      hotRounds: Number(process.env.BENCH_HOT_ROUNDS ?? 20),
      hotConcurrency: Number(process.env.BENCH_HOT_CONCURRENCY ?? 50),
      log,
    }));
  }
  const report = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    at: new Date().toISOString(),
    secondsPerPhase: seconds,
    results,
    checks: checks(results),
  };
  printTable(results, report.checks);
  await mkdir('bench/results', { recursive: true });
  const file = `bench/results/bench-${report.at.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, JSON.stringify(report, null, 2));
  process.stdout.write(JSON.stringify(report) + '\n');
  log(`written to ${file}`);
} finally {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/** The targets of the issues, as ratios where the machine sets the scale; only for what ran. */
function checks(r: Record<string, Figures>): Record<string, { value: number; target: string; ok: boolean }> {
  const all: Record<string, { value: number; target: string; ok: boolean }> = {};
  if (r.append1 && r.rawInsert) {
    const ratio = round(r.append1.eventsPerSecond / r.rawInsert.eventsPerSecond);
    all['append1 / raw INSERT'] = { value: ratio, target: '>= 0.7', ok: ratio >= 0.7 };
  }
  if (r.append10) all['append10 events/s'] = { value: r.append10.eventsPerSecond, target: '>= 25000', ok: r.append10.eventsPerSecond >= 25_000 };
  if (r.catchUp) all['catch-up events/s'] = { value: r.catchUp.eventsPerSecond, target: '>= 100000', ok: r.catchUp.eventsPerSecond >= 100_000 };
  if (r.latencyTrickle) all['latency p99 trickle (ms)'] = { value: r.latencyTrickle.p99Ms!, target: '<= 10', ok: r.latencyTrickle.p99Ms! <= 10 };
  if (r.latencyLoad) all['latency p99 under load (ms)'] = { value: r.latencyLoad.p99Ms!, target: '<= 10', ok: r.latencyLoad.p99Ms! <= 10 };
  if (r.httpCommands) {
    const h = r.httpCommands;
    all['HTTP commands/s'] = { value: h.eventsPerSecond, target: '>= 2000', ok: h.eventsPerSecond >= 2000 };
    all['HTTP command p99 (ms)'] = { value: h.p99Ms!, target: '<= 50', ok: h.p99Ms! <= 50 && !h.non2xx };
  }
  if (r.httpCommands && r.httpCommandsLimited) {
    const ratio = round(r.httpCommandsLimited.eventsPerSecond / r.httpCommands.eventsPerSecond);
    all['HTTP commands/s, rate limits on / off'] = { value: ratio, target: 'report', ok: !r.httpCommandsLimited.non2xx };
  }
  if (r.consoleInbox) {
    const c = r.consoleInbox;
    all['console inbox usable p50 (ms)'] = { value: c.p50Ms!, target: '<= 1000', ok: c.p50Ms! <= 1000 };
    all['console inbox usable / blank page, p50'] = { value: round(c.p50Ms! / c.blankPageP50Ms!), target: 'report', ok: true };
  }
  if (r.rebuildAll) all['rebuild, all projections (log events/s)'] = { value: r.rebuildAll.eventsPerSecond, target: '>= 20000', ok: r.rebuildAll.eventsPerSecond >= 20_000 };
  if (r.commandToQuery) {
    const v = r.commandToQuery;
    all['command to visible p99 at 200/s (ms)'] = { value: v.p99Ms!, target: '<= 30', ok: v.p99Ms! <= 30 && !v.stale && !v.failed };
  }
  if (r.eventToJobStarted) {
    const w = r.eventToJobStarted;
    all['event to job started p99 (ms)'] = { value: w.p99Ms!, target: '<= 20', ok: w.p99Ms! <= 20 && !w.failed };
  }
  if (r.approvedToExecuted) {
    const a = r.approvedToExecuted;
    all['approved actions executed/s'] = { value: a.eventsPerSecond, target: 'report', ok: !a.failed };
  }
  // Issue 15: a command's cost independent of its stream's length (p99 against a 10-event stream's, in the same phase).
  for (const [mode, target] of [['alternating', 2], ['warm', 2], ['fresh process', 2]] as const) {
    const [long, short] = [r[`long stream, ${mode}`], r[`10 events, ${mode}`]];
    if (!long || !short) continue;
    const ratio = round(long.p99Ms! / short.p99Ms!);
    all[`long stream p99 / 10-event p99, ${mode}`] = { value: ratio, target: `<= ${target}${mode === 'fresh process' ? ' (with snapshots)' : ''}`, ok: ratio <= target };
  }
  if (r['hot stream, one API']) all['hot stream refused, one API'] = { value: r['hot stream, one API'].refused!, target: '0', ok: r['hot stream, one API'].refused === 0 };
  if (r['hot stream, two APIs']) all['hot stream refused, two APIs'] = { value: r['hot stream, two APIs'].refused!, target: 'report', ok: true };
  return all;
}

function printTable(results: Record<string, Figures>, targets: ReturnType<typeof checks>): void {
  const rows = Object.entries(results).map(([phase, f]) => ({
    phase,
    events: f.events,
    'events/s': f.eventsPerSecond,
    'p50 ms': f.p50Ms ?? '',
    'p99 ms': f.p99Ms ?? '',
    'p99 ms from commit': f.p99FromCommitMs ?? '',
  }));
  console.table(rows);
  console.table(Object.entries(targets).map(([check, t]) => ({ check, value: t.value, target: t.target, ok: t.ok ? 'yes' : 'NO' })));
}
