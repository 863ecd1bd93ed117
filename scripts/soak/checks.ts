import canonicalize from 'canonicalize';
import type { Knex } from 'knex';
import type { EventStore, RecordedEvent } from '../../src/eventstore/contract.js';
import { PROJECTIONS } from '../../src/projections/index.js';
import type { Command, Delivery } from './client.js';

/** What the soak found wrong, by kind, with a few examples each. */
export class Violations {
  readonly byKind = new Map<string, { count: number; examples: string[] }>();

  add(kind: string, example: string): void {
    const entry = this.byKind.get(kind) ?? { count: 0, examples: [] };
    entry.count++;
    if (entry.examples.length < 5) entry.examples.push(example);
    this.byKind.set(kind, entry);
  }

  get count(): number {
    return [...this.byKind.values()].reduce((sum, entry) => sum + entry.count, 0);
  }
}

/** Events people caused (not workers, not the system), by correlation id: a soak command's own. */
export function byCorrelation(log: readonly RecordedEvent[]): Map<string, RecordedEvent[]> {
  const map = new Map<string, RecordedEvent[]>();
  for (const event of log) {
    const actor = event.metadata.actor as { kind?: string } | undefined;
    if (actor?.kind === 'worker' || actor?.kind === 'system') continue;
    const id = String(event.metadata.correlationId);
    const events = map.get(id);
    if (events) events.push(event);
    else map.set(id, [event]);
  }
  return map;
}

/**
 * Every command against the log. Acknowledged: its events are in the log once, as one run of
 * revisions in its stream ending at the revision and position it was answered (no event type
 * twice: a command stored twice would repeat its types), and every answer to its key is the same.
 * Refused: nothing stored. Unacknowledged (cut): stored once or not at all.
 */
export function checkCommands(commands: readonly Command[], events: Map<string, RecordedEvent[]>, violations: Violations): void {
  for (const command of commands) {
    const mine = events.get(command.correlationId) ?? [];
    const label = `#${command.seq} ${command.op} ${command.method} ${command.path}${command.key ? ' (keyed)' : ''}`;
    const acks = command.deliveries.filter((d) => d.outcome === 'acknowledged');
    const answered = command.deliveries.filter((d) => d.outcome !== 'cut');
    if (acks.length > 0) {
      const first = acks[0]!;
      for (const other of answered.slice(1)) {
        if (!sameAnswer(first, other)) violations.add('a repeated or twin command answered differently', `${label}: ${describe(first)} then ${describe(other)}`);
      }
      const reply = first.body as { revision?: string | null; position?: string | null };
      if (mine.length === 0) {
        violations.add('an acknowledged command is not in the log', `${label}: answered ${describe(first)}`);
        continue;
      }
      const run = checkRun(mine, command.stream);
      if (run) violations.add('an acknowledged command is not in the log exactly once', `${label}: ${run}`);
      const last = mine.at(-1)!;
      if (String(last.revision) !== reply.revision || last.position !== reply.position) {
        violations.add('an acknowledged command answered another revision or position than the log holds', `${label}: answered ${describe(first)}, the log has revision ${last.revision} at ${last.position}`);
      }
    } else if (answered.length > 0) {
      if (mine.length > 0) violations.add('a refused command stored events', `${label}: ${describe(answered[0]!)}, stored ${mine.map((e) => e.type).join(', ')}`);
    } else if (mine.length > 0) {
      const run = checkRun(mine, command.stream);
      if (run) violations.add('an unacknowledged command is in the log more than once', `${label}: ${run}`);
    }
  }
}

/** Why a command's events are not one run in its stream, or nothing when they are. */
function checkRun(events: RecordedEvent[], stream: string | undefined): string | undefined {
  const streams = new Set(events.map((e) => e.streamId));
  if (streams.size !== 1 || (stream && !streams.has(stream))) return `events in ${[...streams].join(', ')}, expected ${stream}`;
  const types = events.map((e) => e.type);
  if (new Set(types).size !== types.length) return `stored ${types.join(', ')} at revisions ${events.map((e) => e.revision).join(', ')}`;
  for (let i = 1; i < events.length; i++) {
    if (events[i]!.revision !== events[i - 1]!.revision + 1n) return `not contiguous: revisions ${events.map((e) => e.revision).join(', ')}`;
  }
  return undefined;
}

/** The same status and the same JSON (a replayed answer comes from JSONB, which orders keys its own way). */
function sameAnswer(a: Delivery, b: Delivery): boolean {
  return a.status === b.status && canonicalize(a.body) === canonicalize(b.body);
}

function describe(d: Delivery): string {
  return `${d.status} ${String(JSON.stringify(d.body)).slice(0, 300)}`;
}

/**
 * Every approved action executed exactly once, in effect too: one ActionExecuted, never a final
 * failure, and the change it asked for on its deal made once (add_note: the note whose id is the
 * action's; assign_owner: the owner it named). Actions not approved did nothing. Returns counts.
 */
export function checkActions(log: readonly RecordedEvent[], violations: Violations): { approved: number; byPeople: number; executed: number; pending: number } {
  const streams = new Map<string, RecordedEvent[]>();
  for (const event of log) {
    const events = streams.get(event.streamId);
    if (events) events.push(event);
    else streams.set(event.streamId, [event]);
  }
  let approved = 0;
  let byPeople = 0;
  let executed = 0;
  let pending = 0;
  for (const [streamId, events] of streams) {
    if (!streamId.startsWith('action-')) continue;
    const proposal = events.find((e) => e.type === 'ActionProposed')!.data as { actionId: string; dealId: string; kind: string; payload: { ownerId?: string } };
    const approval = events.find((e) => e.type === 'ActionApproved');
    const executions = events.filter((e) => e.type === 'ActionExecuted').length;
    const finalFailures = events.filter((e) => e.type === 'ActionExecutionFailed' && (e.data as { final?: boolean }).final);
    const deal = streams.get(`deal-${proposal.dealId}`) ?? [];
    const effects = deal.filter((e) =>
      proposal.kind === 'add_note' ? e.type === 'DealNoteAdded' && (e.data as { noteId?: string }).noteId === proposal.actionId : e.type === 'DealOwnerAssigned' && (e.data as { ownerId?: string }).ownerId === proposal.payload.ownerId,
    ).length;
    const label = `${streamId} (${proposal.kind})`;
    if (!approval) {
      pending++;
      if (executions > 0 || effects > 0) violations.add('an action not approved was executed', `${label}: ${executions} ActionExecuted, ${effects} effects`);
      continue;
    }
    approved++;
    if ((approval.data as { by?: string }).by === 'approvers') byPeople++;
    if (executions === 1) executed++;
    if (executions !== 1) violations.add('an approved action was not executed exactly once', `${label}: ${executions} ActionExecuted; ${events.map((e) => e.type).join(', ')}`);
    if (finalFailures.length > 0) violations.add('an approved action failed for good', `${label}: ${finalFailures.map((e) => JSON.stringify(e.data).slice(0, 300)).join('; ')}`);
    if (effects !== 1) violations.add("an approved action's effect is not on its deal exactly once", `${label}: ${effects} effects`);
  }
  return { approved, byPeople, executed, pending };
}

/** Every read model's rows, as sorted JSON lines per table: equal snapshots mean equal models. */
export async function snapshotReadModels(knex: Knex): Promise<Record<string, string[]>> {
  const tables: Record<string, string[]> = {};
  for (const table of PROJECTIONS.flatMap((projection) => projection.tables)) {
    const rows = await knex(`read.${table}`).select('*');
    tables[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return tables;
}

/** The tables that differ, each with a row found on one side only. */
export function compareSnapshots(live: Record<string, string[]>, rebuilt: Record<string, string[]>, violations: Violations): void {
  for (const table of Object.keys(rebuilt)) {
    const a = new Set(live[table] ?? []);
    const b = new Set(rebuilt[table]!);
    const onlyLive = [...a].filter((row) => !b.has(row));
    const onlyRebuilt = [...b].filter((row) => !a.has(row));
    if (onlyLive.length || onlyRebuilt.length) {
      violations.add('a read model differs from a fresh rebuild', `${table}: ${a.size} rows live, ${b.size} rebuilt; live only: ${onlyLive[0]?.slice(0, 300) ?? '-'}; rebuilt only: ${onlyRebuilt[0]?.slice(0, 300) ?? '-'}`);
    }
  }
}

/** All the log's events, read from the store (the soak keeps reading where it left off). */
export async function readLogAfter(store: EventStore, log: RecordedEvent[]): Promise<number> {
  const before = log.length;
  for await (const event of store.readAll(log.length ? { from: log.at(-1)!.position } : {})) log.push(event);
  return log.length - before;
}
