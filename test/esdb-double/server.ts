import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { AppendRefusals } from './append-refusals.js';
import { AppendService } from './append-service.js';
import { EventLog } from './event-log.js';
import type { EsdbDouble } from './index.js';
import { ServerFeaturesService, StreamsService } from './protocol.js';
import { ReadService } from './read-service.js';
import { getSupportedMethods } from './server-features.js';

/** How many calls of each Streams method the double has served; for tests of the double itself. */
export interface RequestCounts {
  read: number;
  append: number;
  batchAppend: number;
}

/**
 * An in-memory gRPC server speaking EventStoreDB's Streams and ServerFeatures protocols to
 * @eventstore/db-client, on 127.0.0.1 without TLS. Other services answer UNIMPLEMENTED.
 */
export class EsdbDoubleServer implements EsdbDouble {
  readonly requestCounts: RequestCounts = { read: 0, append: 0, batchAppend: 0 };
  private readonly log = new EventLog();
  private readonly refusals = new AppendRefusals();
  private readonly reads = new ReadService(this.log);
  private readonly server = new Server();
  private port = 0;

  static async start(options: { port?: number } = {}): Promise<EsdbDoubleServer> {
    const double = new EsdbDoubleServer();
    double.port = await new Promise<number>((resolve, reject) =>
      double.server.bindAsync(`127.0.0.1:${options.port ?? 0}`, ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    return double;
  }

  private constructor() {
    const appends = new AppendService(this.log, this.refusals);
    this.server.addService(StreamsService, {
      read: this.counted('read', this.reads.read),
      append: this.counted('append', appends.append),
      batchAppend: this.counted('batchAppend', appends.batchAppend),
    });
    this.server.addService(ServerFeaturesService, { getSupportedMethods });
  }

  get connectionString(): string {
    return `esdb://127.0.0.1:${this.port}?tls=false`;
  }

  get eventCount(): number {
    return this.log.all.length;
  }

  dropSubscriptions(): void {
    this.reads.dropAll(status.UNAVAILABLE, 'dropped by the EventStoreDB double (dropSubscriptions)');
  }

  refuseAppends(count: number, code: status = status.UNAVAILABLE): void {
    this.refusals.refuse(count, code);
  }

  async close(): Promise<void> {
    this.reads.dropAll(status.UNAVAILABLE, 'the EventStoreDB double is closing');
    this.server.forceShutdown();
  }

  private counted<Args extends unknown[]>(method: keyof RequestCounts, handler: (...args: Args) => void): (...args: Args) => void {
    return (...args) => {
      this.requestCounts[method] += 1;
      handler(...args);
    };
  }
}
