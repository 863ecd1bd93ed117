import type { Knex } from 'knex';
import type { EventStore, ReadStreamOptions } from '../../src/eventstore/contract.js';
import { createEventStore } from '../../src/eventstore/index.js';
import { loadConfig } from '../../src/platform/config.js';
import { silentLogger } from '../../src/platform/logger.js';
import { eventually } from './async.js';

/**
 * The event store the pipeline tests run on: PostgreSQL (the test database's own), or with
 * TEST_EVENT_STORE=eventstoredb the EventStoreDB adapter over a protocol double of its own (see
 * test/esdb-double), so that `npm test` runs the command, projection and worker tests on both.
 */
export const TEST_EVENT_STORE = process.env.TEST_EVENT_STORE === 'eventstoredb' ? 'eventstoredb' : 'postgres';

export interface TestEventStore {
  store: EventStore;
  /** What a dealstream child process needs in its environment to use the same store. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A store for one test database (the double holds its events for as long as the test's database lives). */
export async function startTestEventStore(databaseUrl: string, logger = silentLogger()): Promise<TestEventStore> {
  if (TEST_EVENT_STORE === 'postgres') {
    const store = createEventStore(loadConfig({ DATABASE_URL: databaseUrl }), logger);
    return { store, env: {}, close: () => store.close() };
  }
  // Loaded only here: the PostgreSQL runs never load gRPC.
  const { startEsdbDouble } = await import('../esdb-double/index.js');
  const double = await startEsdbDouble();
  const env = { EVENT_STORE: 'eventstoredb', EVENTSTORE_CONNECTION_STRING: double.connectionString };
  const store = createEventStore(loadConfig({ DATABASE_URL: databaseUrl, ...env }), logger);
  return {
    store,
    env,
    close: async () => {
      await store.close();
      await double.close();
    },
  };
}

/**
 * The store, noting in `reads` the stream of every readStream and in `eventsRead.count` how many
 * events those reads yielded (clear both between tests).
 */
export function countingStreamReads(store: EventStore): { store: EventStore; reads: string[]; eventsRead: { count: number } } {
  const reads: string[] = [];
  const eventsRead = { count: 0 };
  const counted = Object.assign(Object.create(store) as EventStore, {
    readStream: async function* (streamId: string, options?: ReadStreamOptions) {
      reads.push(streamId);
      for await (const event of store.readStream(streamId, options)) {
        eventsRead.count++;
        yield event;
      }
    },
  });
  return { store: counted, reads, eventsRead };
}

/**
 * Resolves once a reader of the log sees every event committed before the call. On PostgreSQL a
 * read of the log stops below the oldest transaction open anywhere in the cluster (DESIGN.md), so
 * right after a write, while another database holds a transaction open, the log may end before it.
 * The EventStoreDB adapter reads what is committed at once.
 */
export async function logSettled(knex: Knex): Promise<void> {
  if (TEST_EVENT_STORE !== 'postgres') return;
  const snapshot = async (bound: 'xmin' | 'xmax') => BigInt((await knex.raw(`SELECT pg_snapshot_${bound}(pg_current_snapshot())::text AS id`)).rows[0].id);
  const next = await snapshot('xmax'); // every transaction that has committed took an id below it
  await eventually(async () => (await snapshot('xmin')) >= next, 10_000, 'the transactions open in the cluster to end');
}
