import pg from 'pg';
import type { Knex } from 'knex';
import type { Position } from '../eventstore/contract.js';
import { CHECKPOINT_CHANNEL } from '../projections/runtime/generations.js';
import type { Logger } from '../platform/logger.js';
import { OutageLog } from '../platform/outage-log.js';

interface Waiter {
  projections: readonly string[];
  position: Position;
  resolve(reached: boolean): void;
}

/**
 * Where each projection's active generation stands, kept current by the projectors' NOTIFYs, so a
 * query handed a command's position can wait until the read models it reads have passed it.
 */
export class ReadPositions {
  private readonly positions = new Map<string, Position>();
  private readonly waiters = new Set<Waiter>();
  private listener: pg.Client | undefined;
  private listening: Promise<void> | undefined;
  private closed = false;
  /** Tried again at each wait through an outage: said once, then once per interval until it is back. */
  private readonly unlistened: OutageLog;

  constructor(
    private readonly knex: Knex,
    private readonly databaseUrl: string,
    logger: Logger,
  ) {
    this.unlistened = new OutageLog(logger, {
      down: 'projection position listener unavailable; waits for a position fall back to their timeout',
      back: 'projection position listener is back',
    });
  }

  /** True once every named projection has applied everything up to `position`. */
  reached(projections: readonly string[], position: Position): boolean {
    return projections.every((name) => (this.positions.get(name) ?? '') >= position);
  }

  /** Starts listening now rather than at the first wait, so no announcement is missed meanwhile. */
  async start(): Promise<void> {
    this.listening ??= this.listen();
    await this.listening;
  }

  /** Waits at most `timeoutMs` for the projections to pass `position`; false when they did not. */
  async waitFor(projections: readonly string[], position: Position, timeoutMs: number): Promise<boolean> {
    if (this.reached(projections, position)) return true;
    await this.start();
    if (this.reached(projections, position) || timeoutMs <= 0) return this.reached(projections, position);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeoutMs);
      const waiter: Waiter = { projections, position, resolve: (reached) => finish(reached) };
      const finish = (reached: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(reached);
      };
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters) waiter.resolve(false);
    await this.listener?.end().catch(() => undefined);
  }

  private async refresh(): Promise<void> {
    const rows = await this.knex('projections as p')
      .join('projection_generations as g', 'g.schema_name', 'p.active_schema')
      .whereNotNull('g.checkpoint')
      .select<{ name: string; checkpoint: string }[]>('p.name', 'g.checkpoint');
    for (const row of rows) this.advance(row.name, row.checkpoint);
  }

  private advance(projection: string, position: Position): void {
    if ((this.positions.get(projection) ?? '') >= position) return;
    this.positions.set(projection, position);
    for (const waiter of this.waiters) if (this.reached(waiter.projections, waiter.position)) waiter.resolve(true);
  }

  /** One LISTEN connection, opened again at the next wait when it drops; waits fall back to their timeout meanwhile. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'dealstream-read-positions' });
    client.on('notification', (message) => {
      const [projection, position] = (message.payload ?? '').split(' ');
      if (projection && position) this.advance(projection, position);
    });
    client.on('error', (error) => this.unlistened.failed(error));
    client.on('end', () => {
      this.listener = undefined;
      this.listening = undefined;
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHECKPOINT_CHANNEL}`);
      this.listener = client;
      await this.refresh(); // what was stored before LISTEN, or while it was down; announcements cover the rest
      this.unlistened.recovered();
      if (this.closed) await client.end();
    } catch (error) {
      this.listening = undefined;
      await client.end().catch(() => undefined);
      this.unlistened.failed(error);
    }
  }
}
