import { randomUUID } from 'node:crypto';
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
  const subscriberStore = new PostgresEventStore({ connectionString: databaseUrl, poolMax: 2 }); // another "process": woken by NOTIFY
  const results: Record<string, Figures> = {};
  try {
    log(`raw single-row INSERT, ${writers} clients, ${seconds}s`);
    results.rawInsert = await rawInsert(databaseUrl, writers, seconds);

    log(`append, ${writers} writers, 1 event per append, ${streams} streams, ${seconds}s`);
    results.append1 = await appendLoad(store, { writers, streams, batch: 1, seconds, prefix: 'deal' });

    log(`append, ${writers} writers, 10 events per append, ${seconds}s`);
    results.append10 = await appendLoad(store, { writers, streams, batch: 10, seconds, prefix: 'batch' });

    log('catch-up read of the whole log');
    results.catchUp = await catchUp(subscriberStore);

    log('append -> subscriber latency at a trickle');
    results.latencyTrickle = await latency(store, subscriberStore, { probes: Math.max(100, seconds * 50), load: undefined });

    log(`append -> subscriber latency under load (${writers} writers)`);
    results.latencyLoad = await latency(store, subscriberStore, {
      probes: Math.max(100, seconds * 50),
      load: { writers, streams, batch: 1, seconds: 0, prefix: 'load' },
    });
  } finally {
    await store.close();
    await subscriberStore.close();
  }
  return results;
}

async function rawInsert(databaseUrl: string, clients: number, seconds: number): Promise<Figures> {
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
  return summarize(latencies.length, elapsed, latencies);
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
async function appendLoad(store: EventStore, options: LoadOptions, stop?: AbortSignal): Promise<Figures> {
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
  return summarize(events, (performance.now() - started) / 1000, latencies);
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

/** Probe events are appended one at a time; the subscriber (another store instance) timestamps their arrival. */
async function latency(
  writer: EventStore,
  subscriber: EventStore,
  options: { probes: number; load: LoadOptions | undefined },
): Promise<Figures> {
  const controller = new AbortController();
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let caughtUp!: () => void;
  const live = new Promise<void>((resolve) => (caughtUp = resolve));
  let received = 0;
  let allReceived!: () => void;
  const done = new Promise<void>((resolve) => (allReceived = resolve));

  const consuming = (async () => {
    for await (const message of subscriber.subscribe({ from: 'end', signal: controller.signal })) {
      if ('kind' in message) {
        if (message.caughtUp) caughtUp();
        continue;
      }
      if (message.type !== 'LatencyProbe') continue;
      const at = sentAt.get(message.id);
      if (at !== undefined) latencies.push(performance.now() - at);
      if (++received === options.probes) allReceived();
    }
  })();
  await live;

  const loadStop = new AbortController();
  const load = options.load ? appendLoad(writer, options.load, loadStop.signal) : undefined;
  if (load) await new Promise((resolve) => setTimeout(resolve, 500)); // let the load settle

  const stream = `probe-${randomUUID()}`;
  let expected: ExpectedRevision = 'no_stream';
  const started = performance.now();
  for (let i = 0; i < options.probes; i++) {
    const id = randomUUID();
    sentAt.set(id, performance.now());
    expected = (await writer.append(stream, [{ id, type: 'LatencyProbe', data: { i } }], { expectedRevision: expected })).nextRevision;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 30_000))]);
  loadStop.abort();
  const loadFigures = await load;
  controller.abort();
  await consuming;
  console.error("DEBUG", latencies.slice(0, 40).map((x) => x.toFixed(1)).join(" "));
  const figures = summarize(latencies.length, (performance.now() - started) / 1000, latencies);
  return loadFigures ? { ...figures, loadEventsPerSecond: loadFigures.eventsPerSecond } : figures;
}
