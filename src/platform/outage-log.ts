import type { Logger } from './logger.js';

export interface OutageLogOptions {
  /** Logged (warn) when the outage starts, then at most once per interval while it lasts, with a count. */
  down: string;
  /** Logged (info) once it is over; without it, whoever recovers says so in its own words. */
  back?: string;
  /** Fields every line carries (which projection, which role). */
  meta?: Record<string, unknown>;
  /** The name of the count in the log: failed attempts, refused requests. */
  counting?: string;
  /** At most one warn per interval while down. */
  intervalMs?: number;
  /**
   * Tells whether it is back, for a dependency nobody else retries (requests that were refused just
   * stop coming): tried every `probeEveryMs` while down, until it succeeds or `signal` aborts.
   */
  probe?: () => Promise<unknown>;
  probeEveryMs?: number;
  signal?: AbortSignal;
  /** Milliseconds now (tests fix it). */
  clock?: () => number;
}

export const OUTAGE_LOG_INTERVAL_MS = 10_000;

/**
 * One dependency's outage in the log: a line when it starts, at most one per interval while it
 * lasts (counting what failed meanwhile), and one when it is back, instead of a line (or a stack)
 * for every failed attempt or request.
 */
export class OutageLog {
  private since: number | undefined;
  private lastLineAt = 0;
  private failuresSinceLine = 0;
  private failures = 0;
  private probing: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly options: OutageLogOptions,
  ) {
    options.signal?.addEventListener('abort', () => this.stopProbing(), { once: true });
  }

  get down(): boolean {
    return this.since !== undefined;
  }

  failed(error: unknown): void {
    const now = this.now();
    this.failures++;
    this.failuresSinceLine++;
    if (this.since === undefined) {
      this.since = now;
      this.line('warn', this.options.down, { error: messageOf(error) });
      this.startProbing();
    } else if (now - this.lastLineAt >= (this.options.intervalMs ?? OUTAGE_LOG_INTERVAL_MS)) {
      this.line('warn', this.options.down, { [this.counting]: this.failuresSinceLine, downForMs: now - this.since, error: messageOf(error) });
    }
  }

  recovered(): void {
    if (this.since === undefined) return;
    if (this.options.back) this.line('info', this.options.back, { [this.counting]: this.failures, downForMs: this.now() - this.since });
    this.since = undefined;
    this.failures = 0;
    this.stopProbing();
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  private get counting(): string {
    return this.options.counting ?? 'failures';
  }

  private line(level: 'warn' | 'info', message: string, fields: Record<string, unknown>): void {
    this.logger.log(level, message, { ...this.options.meta, ...fields });
    this.lastLineAt = this.now();
    this.failuresSinceLine = 0;
  }

  private startProbing(): void {
    const { probe, signal } = this.options;
    if (!probe || this.probing || signal?.aborted) return;
    let inFlight = false;
    this.probing = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      probe()
        .then(() => this.recovered(), () => undefined)
        .finally(() => (inFlight = false));
    }, this.options.probeEveryMs ?? 1000);
    this.probing.unref(); // never what keeps a process alive
  }

  private stopProbing(): void {
    clearInterval(this.probing);
    this.probing = undefined;
  }
}

/**
 * The reason, short: knex puts the whole SQL before the driver's words, so a long message keeps its
 * end. An AggregateError (each address tried) has no message of its own, only a code.
 */
function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message || String((error as { code?: unknown }).code ?? error.name) : String(error);
  return message.length > 200 ? `…${message.slice(-200)}` : message;
}
