import pg from 'pg';
import type { Knex } from 'knex';
import type { Logger } from '../platform/logger.js';
import { OutageLog } from '../platform/outage-log.js';

/** Announced (NOTIFY, on commit) with a principal's id whenever what it may do changes. */
export const AUTH_CHANGES = 'ds_auth_changes';

export function announceAuthChange(trx: Knex | Knex.Transaction, principalId: string): Promise<unknown> {
  return trx.raw('SELECT pg_notify(?, ?)', [AUTH_CHANGES, principalId]);
}

/**
 * Tells an API process that a revocation, a disabled principal or a change of roles happened in any
 * process. It listens on its own connection; while that is down nothing counts as current (callers
 * check every request), and after a reconnect everything seen before is forgotten, since
 * announcements may have been missed meanwhile.
 */
export class AuthChanges {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners = new Set<() => void>();
  private readonly awaited = new Map<string, Set<() => void>>();
  /** Reconnecting every second through an outage: said once, then once per interval until it is back. */
  private readonly unlistened: OutageLog;

  constructor(
    private readonly databaseUrl: string,
    logger: Logger,
  ) {
    this.unlistened = new OutageLog(logger, {
      down: 'auth change listener unavailable; checking every credential until it is back',
      back: 'auth change listener is back',
    });
  }

  /** Whether announcements arrive now: only then may a checked credential be trusted for a while. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Called on every announcement, and when the connection is lost or regained. */
  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  /**
   * Resolves once the announcement of a change to this principal has come back here (then it has
   * reached the other processes' listeners as well, give or take their scheduling), or after
   * `timeoutMs`; at once while not listening. Call it before the change commits.
   */
  announced(principalId: string, timeoutMs: number): Promise<void> {
    if (!this.listening) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.awaited.get(principalId) ?? new Set();
      this.awaited.set(principalId, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0) this.awaited.delete(principalId);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      waiters.add(done);
    });
  }

  async start(): Promise<void> {
    this.connecting ??= this.connect();
    await this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'dealstream-auth-changes' });
    client.on('notification', (message) => {
      this.changed();
      for (const resolve of this.awaited.get(message.payload ?? '') ?? []) resolve();
    });
    client.on('error', (error) => this.unlistened.failed(error));
    client.on('end', () => {
      if (this.client === client) this.client = undefined;
      this.changed();
      this.reconnectSoon();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${AUTH_CHANGES}`);
      if (this.closed) return void (await client.end());
      this.client = client;
      this.unlistened.recovered();
      this.changed();
    } catch (error) {
      await client.end().catch(() => undefined);
      this.unlistened.failed(error);
      this.reconnectSoon();
    }
  }

  private reconnectSoon(): void {
    if (this.closed || this.retry) return;
    this.connecting = undefined;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.start();
    }, 1000);
    this.retry.unref();
  }
}
