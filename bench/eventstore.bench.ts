import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { EventStore, EventToAppend, ExpectedRevision } from '../src/eventstore/contract.js';
import { PostgresEventStore } from '../src/eventstore/postgres/postgres-event-store.js';
import { summarize, type Figures } from './stats.js';

export interface EventStoreBenchOptions {
  databaseUrl: string;
  /** Seconds per throughput phase. */
  seconds: number;
  writers: number;
  streams: number;
  log: (line: string) => void;
}

/** A ~500-byte event, shaped like the deal events the commands will append. */
function sampleEvent(stream: string, n: number): EventToAppend {
  return {
    id: randomUUID(),
    type: 'DealNoteAdded',
    data: {
      dealId: stream,
      noteId: randomUUID(),
      text: `Call with the founders went well; follow up on the data room request and the revised term sheet (#${n}).`,
      author: 'user-7f3c2a',
      tags: ['diligence', 'follow-up'],
    },
    metadata: {
      correlationId: randomUUID(),
      causationId: randomUUID(),
      actor: { kind: 'user', id: 'user-7f3c2a' },
      occurredAt: new Date().toISOString(),
      schemaVersion: 1,
    },
  };
}

export async function benchEventStore(options: EventStoreBenchOptions): Promise<Record<string, Figures>> {
  const { databaseUrl, seconds, writers, streams, log } = options;
  const store = new PostgresEventStore({ connectionString: databaseUrl, poolMax: writers + 2 });
  const reader = new PostgresEventStore({ connectionString: databaseUrl, poolMax: 2 });
  const results: Record<string, Figures> = {};
  try {
    // The raw ceiling and the 1-event appends run alternately, twice each, so that the machine's
    // drift during the run (a noisy 2-core VM) weighs on both alike.
    const raw: Run[] = [];
    const append1: Run[] = [];
    for (let round = 1; round <= 2; round++) {
      log(`raw single-row INSERT, ${writers} clients, ${seconds / 2}s (round ${round} of 2)`);
      raw.push(await rawInsert(databaseUrl, writers, seconds / 2));
      log(`append, ${writers} writers, 1 event per append, ${streams} streams, ${seconds / 2}s (round ${round} of 2)`);
      append1.push(await appendLoad(store, { writers, streams, batch: 1, seconds: seconds / 2, prefix: `deal${round}` }));
    }
    results.rawInsert = summarizeRuns(raw);
    results.append1 = summarizeRuns(append1);

    log(`append, ${writers} writers, 10 events per append, ${seconds}s`);
    results.append10 = summarizeRuns([await appendLoad(store, { writers, streams, batch: 10, seconds, prefix: 'batch' })]);

    log('catch-up read of the whole log');
    results.catchUp = await catchUp(reader);

    // The phases above wrote hundreds of MB of WAL; let the server finish writing them back, so
    // that the trickle measures a quiet system rather than the tail of the load before it.
    await checkpoint(databaseUrl, log);

    log('append -> subscriber latency at a trickle');
    results.latencyTrickle = await latency(store, databaseUrl, { probes: Math.max(100, seconds * 50), load: undefined });

    log(`append -> subscriber latency under load (${writers} writers)`);
    results.latencyLoad = await latency(store, databaseUrl, {
      probes: Math.max(100, seconds * 50),
      load: { writers, streams, batch: 1, seconds: 0, prefix: 'load' },
    });
  } finally {
    await store.close();
    await reader.close();
  }
  return results;
}

async function checkpoint(databaseUrl: string, log: (line: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('CHECKPOINT');
  } catch (error) {
    log(`CHECKPOINT skipped: ${(error as Error).message}`);
  } finally {
    await client.end();
  }
}

/** What a load phase did: how many events in how long, and each call's latency in ms. */
interface Run {
  events: number;
  seconds: number;
  latencies: number[];
}

function summarizeRuns(runs: Run[]): Figures {
  const sum = (f: (run: Run) => number): number => runs.reduce((total, run) => total + f(run), 0);
  return summarize(sum((r) => r.events), sum((r) => r.seconds), runs.flatMap((r) => r.latencies));
}

async function rawInsert(databaseUrl: string, clients: number, seconds: number): Promise<Run> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data jsonb NOT NULL)');
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        // Each row is a fresh event, serialized, as the appends below get theirs.
        const t = performance.now();
        const payload = JSON.stringify(sampleEvent('deal-raw', 0));
        await pool.query({ name: 'raw', text: 'INSERT INTO bench_raw (data) VALUES ($1::jsonb)', values: [payload] });
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await pool.end();
  return { events: latencies.length, seconds: elapsed, latencies };
}

interface LoadOptions {
  writers: number;
  streams: number;
  batch: number;
  /** 0: until stopped. */
  seconds: number;
  prefix: string;
}

/** Writers each own a share of the streams and append with the exact expected revision. */
async function appendLoad(store: EventStore, options: LoadOptions, stop?: AbortSignal): Promise<Run> {
  const { writers, streams, batch, seconds, prefix } = options;
  const latencies: number[] = [];
  let events = 0;
  const deadline = seconds > 0 ? performance.now() + seconds * 1000 : Infinity;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const owned = Array.from({ length: Math.ceil(streams / writers) }, () => ({
        id: `${prefix}-${randomUUID()}`,
        expected: 'no_stream' as ExpectedRevision,
      }));
      for (let n = 0; performance.now() < deadline && !stop?.aborted; n++) {
        const stream = owned[(n * 7 + w) % owned.length]!;
        const t = performance.now();
        const events_ = Array.from({ length: batch }, (_, i) => sampleEvent(stream.id, n * batch + i));
        const result = await store.append(stream.id, events_, { expectedRevision: stream.expected });
        latencies.push(performance.now() - t);
        stream.expected = result.nextRevision;
        events += batch;
      }
    }),
  );
  return { events, seconds: (performance.now() - started) / 1000, latencies };
}

async function catchUp(store: EventStore): Promise<Figures> {
  const started = performance.now();
  let events = 0;
  let bytes = 0;
  for await (const event of store.readAll({ from: 'start' })) {
    events++;
    if (events === 1) bytes = JSON.stringify(event.data).length + JSON.stringify(event.metadata).length;
  }
  return { ...summarize(events, (performance.now() - started) / 1000, []), eventBytes: bytes };
}

/**
 * Probe events are appended one at a time while a subscriber in another process (as a projector
 * or relay would be, woken by NOTIFY) reports when each arrives. Both sides stamp times with
 * performance.timeOrigin + performance.now(), which share one clock on one machine.
 */
async function latency(writer: EventStore, databaseUrl: string, options: { probes: number; load: LoadOptions | undefined }): Promise<Figures> {
  const subscriber = fork(fileURLToPath(new URL('./latency-subscriber.ts', import.meta.url)), [databaseUrl], {
    execArgv: ['--import', 'tsx'],
  });
  const sentAt = new Map<string, number>();
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  const sinceCommit: number[] = [];
  let allReceived!: () => void;
  const done = new Promise<void>((resolve) => (allReceived = resolve));
  const live = new Promise<void>((resolve) =>
    subscriber.on('message', (message: { ready?: true; id?: string; at?: number }) => {
      if (message.ready) return resolve();
      const at = sentAt.get(message.id!);
      if (at !== undefined) latencies.push(message.at! - at);
      const committed = committedAt.get(message.id!);
      if (committed !== undefined) sinceCommit.push(message.at! - committed);
      if (latencies.length === options.probes) allReceived();
    }),
  );
  await live;

  const loadStop = new AbortController();
  const load = options.load ? appendLoad(writer, options.load, loadStop.signal) : undefined;
  if (load) await new Promise((resolve) => setTimeout(resolve, 500)); // let the load settle

  const stream = `probe-${randomUUID()}`;
  let expected: ExpectedRevision = 'no_stream';
  const started = performance.now();
  for (let i = 0; i < options.probes; i++) {
    const id = randomUUID();
    sentAt.set(id, performance.timeOrigin + performance.now());
    expected = (await writer.append(stream, [{ id, type: 'LatencyProbe', data: { i } }], { expectedRevision: expected })).nextRevision;
    committedAt.set(id, performance.timeOrigin + performance.now());
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 30_000))]);
  const elapsed = (performance.now() - started) / 1000;
  loadStop.abort();
  const loadRun = await load;
  subscriber.kill('SIGTERM');
  await once(subscriber, 'exit');
  // Latency counts from the append call; the time from its commit acknowledgement is reported beside it.
  // (A delivery can beat the acknowledgement back to the writer, hence negative values there.)
  const fromCommit = summarize(sinceCommit.length, elapsed, sinceCommit);
  const figures = { ...summarize(latencies.length, elapsed, latencies), p50FromCommitMs: fromCommit.p50Ms, p99FromCommitMs: fromCommit.p99Ms };
  return loadRun ? { ...figures, loadEventsPerSecond: Math.round(loadRun.events / loadRun.seconds) } : figures;
}
