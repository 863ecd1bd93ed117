/**
 * `npm run soak` (issue 15, "Many processes, one truth"): 3 API, 2 projector and 2 worker processes
 * of the compiled `dealstream` CLI on one fresh database and BullMQ prefix, under a mixed load for
 * SOAK_SECONDS (default 60): deals created, patched and noted (hot deals take bursts of concurrent
 * notes), actions proposed and approved by people, some commands with an Idempotency-Key sent again
 * or twice at once, spread over the APIs round-robin. Halfway, one API, the projector holding the
 * projections' locks and the worker running the relay are killed with SIGKILL and started again.
 * Then, once projections have caught up and the queues have drained (SOAK_SETTLE_SECONDS, default
 * 180), it checks: every acknowledged command is in the log exactly once, as answered, and repeats
 * of a key answered the same; refused ones stored nothing; every approved action was executed once
 * in effect; the read models equal a fresh rebuild; the hash chains hold. Prints a summary and
 * exits 1 on any violation. SOAK_CLIENTS (default 8) sets the concurrent client loops,
 * SOAK_BURST (default 10) the concurrent notes of a burst on a hot deal. Rate limits are off (one
 * address, few principals) unless RATE_LIMIT_* are set; WORKER_LOCK_MS defaults to 5000 here, so
 * the killed worker's jobs run elsewhere within seconds. Each process logs to a file in a temporary
 * folder, named at the start and kept when the soak fails; the database and the queues are deleted
 * at the end.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { verifyLog } from '../src/audit/chain-verification.js';
import type { RecordedEvent } from '../src/eventstore/contract.js';
import { comparePositions } from '../src/eventstore/position.js';
import { PostgresEventStore } from '../src/eventstore/postgres/postgres-event-store.js';
import { createKnex } from '../src/platform/database.js';
import { createRedis } from '../src/platform/redis.js';
import { silentLogger } from '../src/platform/logger.js';
import { PROJECTIONS } from '../src/projections/index.js';
import { rebuildProjection } from '../src/projections/runtime/runner.js';
import { projectionStatus } from '../src/projections/runtime/status.js';
import { REACTING_TO } from '../src/workers/jobs.js';
import { closeQueues, openQueues } from '../src/workers/worker-host.js';
import { workersStatus } from '../src/workers/worker-status.js';
import { percentile } from '../bench/stats.js';
import { byCorrelation, checkActions, checkCommands, compareSnapshots, readLogAfter, snapshotReadModels, Violations } from './soak/checks.js';
import { SoakClient, type Command } from './soak/client.js';
import { Cluster, type Member, type SoakRole } from './soak/cluster.js';
import { SOAK_PRINCIPALS, SoakLoad } from './soak/load.js';

const seconds = Number(process.env.SOAK_SECONDS ?? 60);
const settleSeconds = Number(process.env.SOAK_SETTLE_SECONDS ?? 180);
const clients = Number(process.env.SOAK_CLIENTS ?? 8);
const burst = Number(process.env.SOAK_BURST ?? 10);
const server = process.env.SOAK_DATABASE_SERVER_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROLES: Record<SoakRole, number> = { api: 3, projector: 2, worker: 2 };

const log = (line: string) => void process.stderr.write(`soak: ${line}\n`);
const name = `dealstream_soak_${process.pid}`;
const prefix = `dssoak-${process.pid}`;
const databaseUrl = Object.assign(new URL(server), { pathname: `/${name}` }).toString();
const logDir = mkdtempSync(path.join(os.tmpdir(), 'dealstream-soak-'));
const env: Record<string, string> = {
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: prefix,
  LOG_LEVEL: 'info',
  SECRETS_KEY: `soak:${randomBytes(32).toString('base64')}`,
  WORKER_LOCK_MS: process.env.WORKER_LOCK_MS ?? '5000',
};
for (const limit of ['RATE_LIMIT_ADDRESS', 'RATE_LIMIT_AUTH_FAILURES', 'RATE_LIMIT_COMMAND', 'RATE_LIMIT_QUERY', 'RATE_LIMIT_EXPORT']) env[limit] = process.env[limit] ?? 'off';

log(`${seconds}s of load (${clients} clients), database ${name}, queue prefix ${prefix}, process logs in ${logDir}`);
execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { stdio: 'inherit' });
const cli = (...args: string[]) => execFileSync(process.execPath, ['bin/dealstream.js', ...args], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, encoding: 'utf8' }).trim();

const cluster = new Cluster(env, logDir, log);
const violations = new Violations();
let exitCode = 1;
try {
  cli('migrate');
  const keys = Object.fromEntries(Object.entries(SOAK_PRINCIPALS).map(([who, role]) => [who, cli('keys', 'create', '--name', `soak-${who}`, '--role', role)]));
  const knex = createKnex(databaseUrl, 4);
  const store = new PostgresEventStore({ connectionString: databaseUrl });
  const redis = createRedis(redisUrl, 'worker', silentLogger());
  const queues = openQueues(redis, prefix);
  const client = new SoakClient(keys);
  try {
    for (const [role, count] of Object.entries(ROLES) as [SoakRole, number][]) {
      await Promise.all(Array.from({ length: count }, (_, slot) => cluster.start(role, slot)));
    }
    for (const api of cluster.members.filter((m) => m.role === 'api')) client.attach(api.slot, api.generation, api.port!);

    const load = new SoakLoad(client, { clients, burst, keyed: 0.3, repeated: 0.3, twins: 0.3 });
    await load.seed();
    log(`seeded; mixed load for ${seconds}s`);
    const started = Date.now();
    const kills = (async () => {
      await sleep((seconds * 1000) / 2);
      return killAndRestart(cluster, client, knex);
    })();
    await load.run(started + seconds * 1000);
    const loadSeconds = (Date.now() - started) / 1000;
    const killed = await kills;
    log(`load over after ${loadSeconds.toFixed(1)}s; waiting for the projections and the queues`);

    const events: RecordedEvent[] = [];
    const settledIn = await settle(events);
    const exits = await cluster.stop();
    await readLogAfter(store, events);
    for (const { member, code } of exits) {
      if (code !== 0) violations.add('a process did not stop gracefully', `${member.role} ${member.slot} (pid ${member.pid}) exited with ${code}`);
    }

    // The answers: the load sends only commands the domain accepts, so any refusal but a stream
    // too contended (409 STREAM.CONTENDED, documented under contention across processes) is one,
    // and so is any 5xx and any connection error the kill did not cause.
    for (const command of client.commands) {
      for (const delivery of command.deliveries) {
        const code = (delivery.body as { code?: string } | undefined)?.code;
        const answer = `#${command.seq} ${command.op} ${command.method} ${command.path}: ${delivery.status} ${String(JSON.stringify(delivery.body)).slice(0, 300)}`;
        if (delivery.outcome === 'server-error') violations.add('a 5xx answer', answer);
        if (delivery.outcome === 'refused' && code !== 'STREAM.CONTENDED') violations.add('a valid command refused', answer);
        for (const attempt of delivery.attempts) {
          if (attempt.error && !attempt.cutByKill) violations.add('a connection error on an API the soak did not kill', `#${command.seq} ${command.op} to api ${attempt.slot}: ${attempt.error}`);
        }
      }
    }
    // Checks on the log as it stands, everything stopped.
    checkCommands(client.commands, byCorrelation(events), violations);
    const actions = checkActions(events, violations);
    const chains = await verifyLog(store);
    for (const broken of chains.broken) violations.add('a hash chain is broken', JSON.stringify(broken));
    const statuses = await projectionStatus(knex, store, PROJECTIONS);
    for (const s of statuses) {
      const types = new Set(PROJECTIONS.find((p) => p.name === s.name)!.eventTypes);
      const expected = events.filter((event) => types.has(event.type)).length;
      if (s.eventsApplied !== expected) violations.add('a projection did not apply each event once', `${s.name}: applied ${s.eventsApplied}, the log holds ${expected} of its types`);
    }
    const live = await snapshotReadModels(knex);
    const deps = { knex, eventStore: store, logger: silentLogger(), databaseUrl };
    for (const projection of PROJECTIONS) await rebuildProjection(projection, deps, new AbortController().signal);
    compareSnapshots(live, await snapshotReadModels(knex), violations);
    const processErrors = cluster.members.filter((m) => m.errors > 0).map((m) => `${m.role} ${m.slot}.${m.generation}: ${m.errors}`);

    printSummary({ commands: client.commands, loadSeconds, killed, settledIn, events, actions, chains, live, exits, processErrors });
    exitCode = violations.count === 0 ? 0 : 1;
  } finally {
    await client.close();
    await closeQueues(queues, redis);
    await store.close();
    await knex.destroy();
  }
} catch (error) {
  log(`failed: ${(error as Error).stack ?? String(error)}`);
} finally {
  cluster.killAll();
  await Promise.all(cluster.members.map((m) => m.exit));
  await dropEverything();
  if (exitCode === 0) rmSync(logDir, { recursive: true, force: true });
  else log(`the processes' logs are kept in ${logDir}`);
}
process.exit(exitCode);

/**
 * kill -9 of one API, the projector holding the projections' locks and the worker running the
 * relay, at the same instant; each started again a second later.
 */
async function killAndRestart(cluster: Cluster, client: SoakClient, knex: ReturnType<typeof createKnex>): Promise<Member[]> {
  const api = cluster.current('api', 1);
  const projector = await lockHolder(knex, 'projector', 'dealstream-lock projection:%');
  const worker = await lockHolder(knex, 'worker', 'dealstream-lock relay:%');
  client.detach(api.slot);
  const victims = [api, projector, worker];
  await Promise.all(victims.map((member) => cluster.kill(member)));
  await sleep(1000);
  await Promise.all(
    victims.map(async (victim) => {
      const restarted = await cluster.start(victim.role, victim.slot);
      if (restarted.role === 'api') client.attach(restarted.slot, restarted.generation, restarted.port!);
    }),
  );
  return victims;
}

/** The process of `role` holding a lock whose connection's name matches `pattern` (slot 0's if none does). */
async function lockHolder(knex: ReturnType<typeof createKnex>, role: SoakRole, pattern: string): Promise<Member> {
  const { rows } = await knex.raw<{ rows: { pid: number }[] }>(
    `SELECT substring(a.application_name from 'pid=([0-9]+)')::int AS pid, count(*) AS held
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() AND a.application_name LIKE ?
      GROUP BY 1 ORDER BY 2 DESC`,
    [pattern],
  );
  const live = [0, 1].map((slot) => cluster.current(role, slot));
  return live.find((member) => member.pid === rows[0]?.pid) ?? live[0]!;
}

/**
 * Waits until the work the load caused is done: every approved action executed (or failed for
 * good), no job waiting, running or waiting to retry, the relay past the last event it reacts to,
 * and every projection live at the end of the log, twice in a row with nothing new in the log.
 * Returns the seconds it took; a deadline passed is a violation.
 */
async function settle(events: RecordedEvent[]): Promise<number> {
  const store = new PostgresEventStore({ connectionString: databaseUrl });
  const knex = createKnex(databaseUrl, 2);
  const redis = createRedis(redisUrl, 'worker', silentLogger());
  const queues = openQueues(redis, prefix);
  const started = Date.now();
  const reacting = new Set(REACTING_TO);
  let waitingFor = '';
  let calm = 0;
  try {
    while (Date.now() - started < settleSeconds * 1000) {
      const fresh = await readLogAfter(store, events);
      const head = events.at(-1)!.position;
      const lastReacted = events.findLast((event) => reacting.has(event.type))?.position;
      const executions = new Map<string, boolean>();
      for (const event of events) {
        if (event.type === 'ActionApproved') executions.set(event.streamId, executions.get(event.streamId) ?? false);
        if (event.type === 'ActionExecuted' || (event.type === 'ActionExecutionFailed' && (event.data as { final?: boolean }).final)) executions.set(event.streamId, true);
      }
      const unexecuted = [...executions.values()].filter((done) => !done).length;
      const workers = await workersStatus(knex, queues);
      const busy = workers.queues.filter((q) => q.waiting + q.active + q.retrying > 0).map((q) => `${q.name} ${q.waiting}/${q.active}/${q.retrying}`);
      const relayBehind = lastReacted !== undefined && (!workers.relay.checkpoint || comparePositions(workers.relay.checkpoint, lastReacted) < 0);
      const projections = (await projectionStatus(knex, store, PROJECTIONS)).filter((s) => s.state !== 'live' || !s.checkpoint || comparePositions(s.checkpoint, head) < 0);
      waitingFor = [
        unexecuted && `${unexecuted} approved actions to execute`,
        busy.length && `jobs waiting/active/retrying: ${busy.join(', ')}`,
        relayBehind && 'the relay',
        projections.length && `projections ${projections.map((s) => `${s.name} (${s.state}, lag ${s.lag.events})`).join(', ')}`,
      ].filter(Boolean).join('; ');
      calm = !waitingFor && fresh === 0 ? calm + 1 : 0;
      if (calm >= 2) return (Date.now() - started) / 1000;
      await sleep(250);
    }
    violations.add('the system did not settle', `after ${settleSeconds}s still waiting for ${waitingFor || 'the log to stop growing'}`);
    return settleSeconds;
  } finally {
    await closeQueues(queues, redis);
    await store.close();
    await knex.destroy();
  }
}

function printSummary(r: {
  commands: Command[];
  loadSeconds: number;
  killed: Member[];
  settledIn: number;
  events: RecordedEvent[];
  actions: ReturnType<typeof checkActions>;
  chains: Awaited<ReturnType<typeof verifyLog>>;
  live: Record<string, string[]>;
  exits: { member: Member; code: number | null }[];
  processErrors: string[];
}): void {
  const deliveries = r.commands.flatMap((c) => c.deliveries);
  const attempts = deliveries.flatMap((d) => d.attempts);
  const answered = attempts.filter((a) => a.status !== undefined);
  const refused = new Map<string, number>();
  for (const d of deliveries) {
    if (d.outcome !== 'refused' && d.outcome !== 'server-error') continue;
    const label = `${d.status} ${(d.body as { code?: string } | undefined)?.code ?? ''}`.trim();
    refused.set(label, (refused.get(label) ?? 0) + 1);
  }
  const unacknowledged = r.commands.filter((c) => c.deliveries.every((d) => d.outcome === 'cut'));
  const landed = new Set(r.events.map((e) => String(e.metadata.correlationId)));
  const keyed = r.commands.filter((c) => c.key);
  const ops = new Map<string, { commands: number; acknowledged: number; ms: number[] }>();
  for (const c of r.commands) {
    const op = ops.get(c.op) ?? { commands: 0, acknowledged: 0, ms: [] };
    op.commands++;
    if (c.deliveries.some((d) => d.outcome === 'acknowledged')) op.acknowledged++;
    for (const a of c.deliveries.flatMap((d) => d.attempts)) if (a.status !== undefined && a.status < 300) op.ms.push(a.ms);
    ops.set(c.op, op);
  }
  const ms = (values: number[], p: number) => Math.round(percentile([...values].sort((a, b) => a - b), p));

  const lines = [
    '',
    `dealstream soak: ${ROLES.api} API, ${ROLES.projector} projector and ${ROLES.worker} worker processes, ${r.loadSeconds.toFixed(0)}s of load with ${clients} clients`,
    `killed with SIGKILL halfway and started again: ${r.killed.map((m) => `${m.role} ${m.slot} (pid ${m.pid})`).join(', ')}`,
    '',
    `commands: ${r.commands.length} sent as ${attempts.length} requests (${(attempts.length / r.loadSeconds).toFixed(0)}/s)`,
    `  acknowledged (2xx): ${r.commands.filter((c) => c.deliveries.some((d) => d.outcome === 'acknowledged')).length}`,
    `  refused, by status: ${refused.size ? [...refused].map(([label, n]) => `${label}: ${n}`).join(', ') : 'none'}`,
    `  5xx answers: ${answered.filter((a) => a.status! >= 500).length}`,
    `  connection errors: ${attempts.filter((a) => a.error && a.cutByKill).length} cut by the kill of the API, ${attempts.filter((a) => a.error && !a.cutByKill).length} other (${[...new Set(attempts.filter((a) => a.error).map((a) => a.error))].join(', ') || '-'})`,
    `  unacknowledged (cut, not sent again): ${unacknowledged.length}, of which in the log (once): ${unacknowledged.filter((c) => landed.has(c.correlationId)).length}`,
    `  with Idempotency-Key: ${keyed.length}; sent again after their answer: ${deliveries.filter((d) => d.kind === 'repeat').length}, twice at once: ${deliveries.filter((d) => d.kind === 'twin').length}, again after a cut connection: ${keyed.filter((c) => c.deliveries.some((d) => d.attempts.length > 1)).length}`,
    '',
    'by operation: commands, acknowledged, latency of 2xx answers p50 / p99 ms',
    ...[...ops].sort(([a], [b]) => a.localeCompare(b)).map(([op, o]) => `  ${op.padEnd(26)} ${String(o.commands).padStart(6)} ${String(o.acknowledged).padStart(6)}   ${ms(o.ms, 50)} / ${ms(o.ms, 99)}`),
    '',
    `settled ${r.settledIn.toFixed(1)}s after the load (projections live at the end of the log, queues drained)`,
    `log: ${r.events.length} events in ${r.chains.streams} streams; hash chains broken: ${r.chains.broken.length}, unchained streams: ${r.chains.unchained.length}`,
    `actions: ${r.actions.approved} approved (${r.actions.byPeople} by people, ${r.actions.approved - r.actions.byPeople} by policy), ${r.actions.executed} executed exactly once in effect; ${r.actions.pending} not approved (left pending)`,
    `read models: ${Object.entries(r.live).map(([table, rows]) => `${table} ${rows.length}`).join(', ')} rows, compared with a fresh rebuild`,
    `processes: ${r.exits.length} stopped with SIGTERM, exit codes ${[...new Set(r.exits.map((e) => e.code))].join(', ')}; error log lines: ${r.processErrors.join(', ') || 'none'}`,
    '',
    violations.count === 0 ? 'violations: none' : `VIOLATIONS: ${violations.count}`,
    ...[...violations.byKind].flatMap(([kind, v]) => [`  ${kind}: ${v.count}`, ...v.examples.map((e) => `    ${e}`)]),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

async function dropEverything(): Promise<void> {
  try {
    const redis = createRedis(redisUrl, 'worker', silentLogger());
    const queues = openQueues(redis, prefix);
    for (const queue of Object.values(queues)) await queue.obliterate({ force: true });
    await closeQueues(queues, redis);
    // Rate-limit keys and anything else under the prefix.
    const plain = createRedis(redisUrl, 'worker', silentLogger());
    for await (const keys of plain.scanStream({ match: `${prefix}:*`, count: 500 })) if ((keys as string[]).length) await plain.del(...(keys as string[]));
    plain.disconnect();
  } catch (error) {
    log(`could not delete the queues under ${prefix}: ${(error as Error).message}`);
  }
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`).finally(() => admin.end());
}
