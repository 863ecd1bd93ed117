import type { EventStore, RecordedEvent } from '../../src/eventstore/contract.js';
import { collect } from '../support/async.js';
import { label, type Operation } from './operations.js';

/** Each request carries `X-Correlation-Id: fz<seq>.…`; events carry it in their metadata. */
export const correlationIdOf = (seq: number, tag: string) => `fz${seq}.${tag}`;
const seqOf = (correlationId: unknown) => {
  const match = typeof correlationId === 'string' ? /^fz(\d+)\./.exec(correlationId) : null;
  return match ? Number(match[1]) : undefined;
};

interface Answered {
  label: string;
  status: number;
  /** A command's answer names the position of its last event (or the stream's, when nothing changed). */
  position?: string;
}

export interface LedgerFinding {
  reason: string;
  label: string;
  seq?: number;
  detail: string;
}

export interface LedgerCounts {
  events: number;
  commands: number;
  commandsWithEvents: number;
  /** Answered from an earlier event: idempotent replays and commands that changed nothing. */
  commandsWithout: number;
}

/**
 * Matches the events appended during the run to the requests that asked for them, and checks that
 * they agree: no event without a successful request, and every successful command's position is
 * one of its own events, or (a replay or no-op) an event that was there before it.
 */
export class EventLedger {
  private readonly answered = new Map<number, Answered>();
  /** Positions answers said were taken (a webhook subscription's start), with the first request that said so. */
  private readonly kept = new Map<string, { seq: number; label: string }>();

  constructor(private readonly baseline: ReadonlySet<string>) {}

  static async open(store: EventStore): Promise<EventLedger> {
    return new EventLedger(new Set((await collect(store.readAll({ from: 'start' }))).map((event) => event.id)));
  }

  note(seq: number, operation: Operation, status: number, body: unknown): void {
    const found = typeof body === 'object' && body !== null ? (body as { position?: unknown }).position : undefined;
    const position = typeof found === 'string' && status < 300 ? found : undefined;
    this.answered.set(seq, { label: label(operation), status, ...(position && operation.command ? { position } : {}) });
    if (position && !operation.command && !this.kept.has(position)) this.kept.set(position, { seq, label: label(operation) });
  }

  async check(store: EventStore): Promise<{ findings: LedgerFinding[]; counts: LedgerCounts }> {
    const all = await collect(store.readAll({ from: 'start' }));
    const atPosition = new Map(all.map((event) => [event.position, event]));
    const fresh = all.filter((event) => !this.baseline.has(event.id));
    const findings: LedgerFinding[] = [];
    const bySeq = new Map<number, RecordedEvent[]>();
    for (const event of fresh) {
      const seq = seqOf(event.metadata.correlationId);
      const request = seq === undefined ? undefined : this.answered.get(seq);
      const what = `${event.type} on ${event.streamId} (correlation ${String(event.metadata.correlationId).slice(0, 40)})`;
      if (!request) findings.push({ reason: 'an event no request of the run asked for', label: '(none)', detail: what });
      else if (request.status >= 300) findings.push({ reason: `an event appended for a request answered ${request.status}`, label: request.label, seq, detail: what });
      if (seq !== undefined) bySeq.set(seq, [...(bySeq.get(seq) ?? []), event]);
    }
    const counts: LedgerCounts = { events: fresh.length, commands: 0, commandsWithEvents: 0, commandsWithout: 0 };
    for (const [seq, request] of this.answered) {
      if (request.position === undefined) continue;
      counts.commands++;
      const own = bySeq.get(seq) ?? [];
      if (own.length > 0) {
        counts.commandsWithEvents++;
        if (!own.some((event) => event.position === request.position)) findings.push({ reason: 'a command answered a position none of its events holds', label: request.label, seq, detail: request.position });
        continue;
      }
      counts.commandsWithout++;
      const there = atPosition.get(request.position);
      const earlier = there && (this.baseline.has(there.id) || (seqOf(there.metadata.correlationId) ?? Infinity) < seq);
      if (!earlier) findings.push({ reason: 'a command answered success, appended nothing, and names no earlier event', label: request.label, seq, detail: request.position });
    }
    findings.push(...(await this.unreadable(store)));
    return { findings, counts };
  }

  /** What the API took to read from later (a subscription's position) must be a place the log can be read from. */
  private async unreadable(store: EventStore): Promise<LedgerFinding[]> {
    const findings: LedgerFinding[] = [];
    for (const [position, { seq, label }] of this.kept) {
      try {
        await collect(store.readAll({ from: position, maxCount: 1 }));
      } catch (error) {
        findings.push({ reason: 'an answer kept a position the log cannot be read from', label, seq, detail: `${position}: ${(error as Error).message}` });
      }
    }
    return findings;
  }
}
