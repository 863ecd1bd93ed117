import type { status } from '@grpc/grpc-js';
import { EsdbDoubleServer } from './server.js';

/**
 * A protocol double of EventStoreDB for tests: an in-memory gRPC server that @eventstore/db-client
 * talks to as it would to a single 23.x node (see README.md for what it serves and what not).
 */
export interface EsdbDouble {
  /** For EventStoreDBClient.connectionString, e.g. `esdb://127.0.0.1:PORT?tls=false` (single node, no discovery). */
  readonly connectionString: string;
  /** Ends every open Streams.Read call (reads and subscriptions) with UNAVAILABLE, as a server restart or network fault would. */
  dropSubscriptions(): void;
  /** The next `count` Append/BatchAppend requests fail with this gRPC status (default UNAVAILABLE) and store nothing. */
  refuseAppends(count: number, code?: status): void;
  /** How many events the double holds (for tests). */
  readonly eventCount: number;
  close(): Promise<void>;
}

/** Starts a double on 127.0.0.1; port 0 (the default) takes a free port. */
export function startEsdbDouble(options?: { port?: number }): Promise<EsdbDouble> {
  return EsdbDoubleServer.start(options);
}
