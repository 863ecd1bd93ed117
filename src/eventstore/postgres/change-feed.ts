import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../platform/logger.js';
import { OutageLog } from '../../platform/outage-log.js';
import { ChangeSignal } from './change-signal.js';

const CHANNEL = 'dealstream_events';

/**
 * Tells subscribers that events were appended. Appends in this process wake local subscribers at
 * once; other processes learn through a NOTIFY sent after commit (never inside the append
 * transaction, where it serializes every commit), at most one per `notifyIntervalMs`.
 * A LISTEN connection, reopened whenever it drops, receives the other processes' NOTIFYs.
 */
export class ChangeFeed {
  readonly signal = new ChangeSignal();
  private readonly instance = randomUUID();
  private notifying = false;
  private appendedSinceNotify = false;
  private notifyTimer: NodeJS.Timeout | undefined;
  private lastNotifyAt = 0;
  private listener: pg.Client | undefined;
  private listening = false;
  private closed = false;
  /** A LISTEN connection lost or not reopened: said once, then once per interval until it is back. */
  private readonly unlistened: OutageLog;

  constructor(
    private readonly pool: pg.Pool,
    private readonly clientConfig: pg.ClientConfig,
    private readonly notifyIntervalMs: number,
    private readonly logger: Logger,
  ) {
    this.unlistened = new OutageLog(logger, { down: 'event store LISTEN connection unavailable; subscribers poll until it is back', back: 'event store LISTEN connection is back' });
  }

  /** Called after an append committed. */
  appended(): void {
    this.signal.notify();
    if (this.closed) return;
    if (this.notifying) {
      this.appendedSinceNotify = true;
      return;
    }
    this.notifying = true;
    this.sendNotify();
  }

  /** One NOTIFY in flight at a time; appends meanwhile earn one more, no sooner than the interval allows. */
  private sendNotify(): void {
    this.appendedSinceNotify = false;
    this.lastNotifyAt = performance.now();
    this.pool
      // The NOTIFY transaction commits without waiting for its WAL flush: it stores nothing.
      .query({ name: 'ds_notify', text: `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`, values: [CHANNEL, this.instance] })
      .catch((error: unknown) => this.logger.warn('event store NOTIFY failed; subscribers fall back to polling', { error }))
      .finally(() => {
        if (!this.appendedSinceNotify || this.closed) {
          this.notifying = false;
          return;
        }
        const delay = Math.max(0, this.lastNotifyAt + this.notifyIntervalMs - performance.now());
        this.notifyTimer = setTimeout(() => this.sendNotify(), delay);
      });
  }

  /** Starts listening for other processes' appends (once). */
  listen(): void {
    if (this.listening || this.closed) return;
    this.listening = true;
    void this.connectListener(0);
  }

  private async connectListener(failures: number): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.clientConfig);
    client.on('notification', (message) => {
      if (message.payload !== this.instance) this.signal.notify();
    });
    client.on('error', (error) => this.unlistened.failed(error));
    client.on('end', () => {
      if (this.listener !== client || this.closed) return;
      this.listener = undefined;
      this.signal.notify(); // events may have arrived while nobody listened
      setTimeout(() => void this.connectListener(0), 100).unref();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (this.closed) {
        await client.end();
        return;
      }
      this.listener = client;
      this.unlistened.recovered();
      this.signal.notify();
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      const delay = Math.min(5000, 100 * 2 ** failures);
      this.unlistened.failed(error);
      setTimeout(() => void this.connectListener(failures + 1), delay).unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.notifyTimer);
    this.signal.notify();
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
  }
}
