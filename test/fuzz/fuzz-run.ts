import { createServer } from 'node:http';
import { once } from 'node:events';
import fc from 'fast-check';
import request from 'supertest';
import winston from 'winston';
import Transport from 'winston-transport';
import { startTestApp } from '../support/app.js';
import { logSettled } from '../support/event-store.js';
import { dropTestPrefixes } from '../support/workers.js';
import { EventLedger, correlationIdOf, type LedgerCounts, type LedgerFinding } from './event-ledger.js';
import { ingredientsOf } from './ingredients.js';
import { label, operationsOf, type OpenApiDocument } from './operations.js';
import { requestArbitrary, type FuzzRequest } from './request-arbitrary.js';
import { seedWorld } from './seed-world.js';
import { send, wireFormOf, type Outcome, type Sent } from './send.js';
import { firstLine, verdictOn } from './verdict.js';

export interface FuzzOptions {
  requests: number;
  seed: number;
  /** Progress lines (every 10%), for long runs. */
  log?: (line: string) => void;
  /** Requests each failure class may spend on shrinking its example. */
  shrinkBudget?: number;
  /** Failure classes shrunk (the first found); the others show their first example. */
  shrunkClasses?: number;
}

/** One request and its answer. */
export interface Exchange {
  seq: number;
  fuzz: FuzzRequest;
  sent: Sent;
  outcome: Outcome;
  /** What the server logged as an error while answering (its 500s say only "it has been logged"). */
  serverError: string;
  verdict?: string;
}

/** Failures that share an operation, a status, a detail, a reason and the server's error. */
export interface FailureClass {
  key: string;
  label: string;
  status: number;
  detail: string;
  reason: string;
  serverError: string;
  count: number;
  /** fast-check's run index of the first: `seed` and this replay it. */
  run: number;
  /** The run indexes of the first few, for replays. */
  runs: number[];
  /** The first example, shrunk when the replay failed the same way. */
  example: Exchange;
  shrunk: { tried: boolean; requests: number; reproduced: boolean };
  /** What the failing requests got wrong, and how often. */
  ingredients: Map<string, number>;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  ms: number;
  byStatus: Map<number, number>;
  /** Requests and successes by operation (`GET /api/deals/{id}`). */
  operations: { total: number; tallies: Map<string, { requests: number; succeeded: number }> };
  failures: FailureClass[];
  ledger: { findings: LedgerFinding[]; counts: LedgerCounts };
  healthy: boolean;
  /** Sent while shrinking, besides `requests`. */
  shrinkRequests: number;
}

const STREAMING_SHRINK_BUDGET = 10;
/** Examples of a class replayed until one fails again (the objects have moved on since the first). */
const REPLAYS = 5;

/**
 * A seeded, bounded run over every operation of /openapi.json, on a fresh app and database: each
 * request is drawn by fast-check, sent, and judged (see verdict.ts); then each failure class is
 * shrunk by replaying its run, the app's health is asked, and the log is checked against the answers.
 */
export async function runFuzz({ requests, seed, log = () => {}, shrinkBudget = 100, shrunkClasses = 40 }: FuzzOptions): Promise<FuzzReport> {
  const serverLog: Logged[] = [];
  const harness = await startTestApp({ projections: true, queues: true, logger: capturing(serverLog), http: { consistencyWaitMs: 100 } });
  const server = createServer(harness.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const document = (await request(server).get('/openapi.json')).body as OpenApiDocument;
    const operations = operationsOf(document);
    const world = await seedWorld(server, harness.knex, harness.store);
    await logSettled(harness.knex); // the ledger's baseline holds every event of the seeding
    const ledger = await EventLedger.open(harness.store);
    const arbitrary = requestArbitrary(operations);
    const tag = `${seed}`;
    let seq = 0;
    const exchange = async (fuzz: FuzzRequest): Promise<Exchange> => {
      seq++;
      const sent = wireFormOf(fuzz, world, correlationIdOf(seq, tag));
      const before = serverLog.length;
      const outcome = await send(server, sent, fuzz.operation.streaming);
      await world.learn(sent.url, outcome);
      const logged = serverLog.slice(before);
      ledger.note(seq, fuzz.operation, outcome.status, outcome.body);
      const verdict = verdictOn(sent, outcome, logged);
      // An endless answer cannot change its 200: the store's warnings while it was read say how it failed.
      const worth = logged.filter(({ level }) => level === 'error' || (fuzz.operation.streaming && level === 'warn'));
      return { seq, fuzz, sent, outcome, serverError: worth.map(({ message }) => message).join(' | '), ...(verdict ? { verdict } : {}) };
    };

    const started = Date.now();
    const byStatus = new Map<number, number>();
    const byOperation = new Map<string, { requests: number; succeeded: number }>();
    const classes = new Map<string, FailureClass>();
    let run = 0;
    const ran = await fc.check(
      fc.asyncProperty(arbitrary, async (fuzz) => {
        const done = await exchange(fuzz);
        byStatus.set(done.outcome.status, (byStatus.get(done.outcome.status) ?? 0) + 1);
        const tally = byOperation.get(label(fuzz.operation)) ?? { requests: 0, succeeded: 0 };
        tally.requests++;
        if (done.outcome.status >= 200 && done.outcome.status < 300) tally.succeeded++;
        byOperation.set(label(fuzz.operation), tally);
        if (done.verdict) addFailure(classes, done, run);
        run++;
        if (run % Math.max(1, Math.round(requests / 10)) === 0) log(`${run}/${requests} requests, ${classes.size} failure classes, ${Math.round((Date.now() - started) / 1000)} s`);
        return true;
      }),
      { seed, numRuns: requests },
    );
    if (ran.failed) throw new Error(`the fuzz harness failed: ${String(ran.errorInstance)}`);
    const ms = Date.now() - started;
    const healthy = (await request(server).get('/health')).status === 200;

    const before = seq;
    for (const failure of [...classes.values()].slice(0, shrunkClasses)) {
      // A feed is read for up to two seconds: its class gets a few replays only.
      await shrink(failure, arbitrary, seed, failure.example.fuzz.operation.streaming ? STREAMING_SHRINK_BUDGET : shrinkBudget, exchange);
    }
    const shrinkRequests = seq - before;
    await logSettled(harness.knex); // and its check every event of the run
    return {
      seed,
      requests,
      ms,
      byStatus,
      operations: { total: operations.length, tallies: byOperation },
      failures: [...classes.values()],
      ledger: await ledger.check(harness.store),
      healthy,
      shrinkRequests,
    };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await harness.close();
    await dropTestPrefixes();
  }
}

function classKey(done: Exchange): string {
  const { status, body } = done.outcome;
  // A problem without a detail is grouped by its code: its title may carry data ("cost in EUR").
  const code = typeof body === 'object' && body !== null && !('detail' in body) ? (body as { code?: unknown }).code : undefined;
  return [label(done.fuzz.operation), status, typeof code === 'string' ? code : normalised(firstLine(body)), done.verdict, normalised(done.serverError)].join(' | ');
}

/** A message without what differs between requests: ids, numbers, quoted values, knex's SQL before " - ". */
function normalised(message: string): string {
  const first = message.split(' | ')[0]!;
  const sql = first.lastIndexOf(' - ');
  return first.slice(sql < 0 ? 0 : sql + 3).replace(/"[^"]*"|'[^']*'/g, '"…"').replace(/\d+/g, 'N').slice(0, 160);
}

function addFailure(classes: Map<string, FailureClass>, done: Exchange, run: number): void {
  const key = classKey(done);
  const known = classes.get(key);
  const failure: FailureClass = known ?? {
    key,
    label: label(done.fuzz.operation),
    status: done.outcome.status,
    detail: firstLine(done.outcome.body),
    reason: done.verdict!,
    serverError: done.serverError,
    count: 0,
    run,
    runs: [],
    example: done,
    shrunk: { tried: false, requests: 0, reproduced: false },
    ingredients: new Map(),
  };
  failure.count++;
  if (failure.runs.length < REPLAYS) failure.runs.push(run);
  for (const ingredient of ingredientsOf(done.fuzz)) failure.ingredients.set(ingredient, (failure.ingredients.get(ingredient) ?? 0) + 1);
  classes.set(key, failure);
}

/**
 * Replays an example of the class (fast-check's seed and the run's path) and lets fast-check shrink
 * it while it fails the same way, within `budget` requests. The objects have moved on since, so a
 * replay may pass: then the next example is tried, and if none fails again the first stands.
 */
async function shrink(failure: FailureClass, arbitrary: fc.Arbitrary<FuzzRequest>, seed: number, budget: number, exchange: (fuzz: FuzzRequest) => Promise<Exchange>): Promise<void> {
  let left = budget;
  failure.shrunk.tried = true;
  for (const run of failure.runs) {
    if (failure.shrunk.reproduced || left <= 0) break;
    await fc.check(
      fc.asyncProperty(arbitrary, async (fuzz) => {
        if (left <= 0) return true; // out of budget: every further candidate "passes", which ends the shrinking
        left--;
        const done = await exchange(fuzz);
        if (!done.verdict || classKey(done) !== failure.key) return true;
        failure.example = done;
        failure.run = run;
        failure.shrunk.reproduced = true;
        return false;
      }),
      { seed, path: String(run), numRuns: 1, endOnFailure: false },
    );
  }
  failure.shrunk.requests = budget - left;
}

interface Logged {
  level: string;
  message: string;
}

/** A winston logger that keeps errors and warnings (the app logs each 500's cause; the store its failed reads). */
function capturing(logged: Logged[]): winston.Logger {
  return winston.createLogger({
    level: 'warn',
    transports: [
      new (class extends Transport {
        override log(info: { level: string; message: string; error?: unknown }, done: () => void) {
          const error = typeof info.error === 'object' && info.error !== null ? (info.error as { message?: string }).message : typeof info.error === 'string' ? info.error : undefined;
          logged.push({ level: info.level, message: error ? `${info.message}: ${error}` : info.message });
          done();
        }
      })(),
    ],
  });
}
