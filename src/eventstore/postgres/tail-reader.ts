import type { EventFilter, Position, RecordedEvent } from '../contract.js';
import { matchesFilter } from '../filter.js';

export interface LogBatch {
  events: RecordedEvent[];
  /** Every event below this position has been read (or filtered out). */
  horizon: Position;
  blocked: boolean;
}

export interface TailBatch extends LogBatch {
  /** False when the shared read hit its limit: more events wait, read on at once. */
  complete: boolean;
}

interface Caller {
  after: Position;
  filter: EventFilter | undefined;
  resolve(batch: TailBatch): void;
  reject(error: unknown): void;
}

/**
 * Live subscriptions read the tail of the log together: the reads they ask for in one turn of the
 * event loop (a wake-up reaches them all at once) become one unfiltered read from the lowest of
 * their positions, and each takes its own events from it. One query per wake-up instead of one per
 * subscription.
 */
export class TailReader {
  private waiting: Caller[] = [];

  constructor(
    private readonly readLog: (after: Position, limit: number) => Promise<LogBatch>,
    private readonly limit: number,
  ) {}

  read(after: Position, filter: EventFilter | undefined): Promise<TailBatch> {
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => void this.flush());
      this.waiting.push({ after, filter, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const callers = this.waiting;
    this.waiting = [];
    const from = callers.reduce((lowest, caller) => (caller.after < lowest ? caller.after : lowest), callers[0]!.after);
    let batch: LogBatch;
    try {
      batch = await this.readLog(from, this.limit);
    } catch (error) {
      for (const caller of callers) caller.reject(error);
      return;
    }
    const complete = batch.events.length < this.limit;
    // A read cut short by its limit has read everything up to its last event, and no further.
    const horizon = complete ? batch.horizon : batch.events.at(-1)!.position;
    for (const caller of callers) {
      const events = batch.events.filter((event) => event.position > caller.after && matchesFilter(event, caller.filter));
      caller.resolve({ events, horizon, blocked: batch.blocked, complete });
    }
  }
}
