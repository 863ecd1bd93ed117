import { DealEventSchemas, type DealEvent } from '../../domain/deals/deal.events.js';
import { fromTenThousandths, toTenThousandths } from '../../domain/shared/money.js';
import type { RecordedEvent } from '../../eventstore/contract.js';
import type { Projection, ProjectionTarget } from '../runtime/projection.js';

export interface DealRow extends Record<string, unknown> {
  deal_id: string;
  name: string;
  company: string;
  amount: string;
  currency: string;
  owner_id: string;
  tags: string[];
  stage: string;
  status: string;
  lost_from: string | null;
  notes_count: number;
  revision: string;
  created_at: Date | string;
  updated_at: Date | string;
  created_by: string;
}

/** Deals, their stage history and notes, and the pipeline (count and total per stage and currency). */
export const dealsProjection: Projection = {
  name: 'deals',
  // 2: each stage change names the action it was made for (on_behalf_of).
  version: 2,
  eventTypes: Object.keys(DealEventSchemas),
  tables: ['deals', 'deal_stage_history', 'deal_notes', 'pipeline'],

  async createTables(trx, schema) {
    await trx.raw(`
      CREATE TABLE ??.deals (
        deal_id      text PRIMARY KEY,
        name         text NOT NULL,
        company      text NOT NULL,
        amount       numeric(19, 4) NOT NULL,
        currency     text NOT NULL,
        owner_id     text NOT NULL,
        tags         text[] NOT NULL,
        stage        text NOT NULL,
        status       text NOT NULL,
        lost_from    text,
        notes_count  int NOT NULL,
        revision     bigint NOT NULL,
        created_at   timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL,
        created_by   text NOT NULL
      );
      CREATE INDEX ON ??.deals (created_at, deal_id);
      CREATE INDEX ON ??.deals (updated_at, deal_id);
      CREATE INDEX ON ??.deals (amount, deal_id);
      CREATE INDEX ON ??.deals (stage);
      CREATE INDEX ON ??.deals (owner_id);
      CREATE INDEX ON ??.deals USING gin (tags);
      CREATE INDEX ON ??.deals USING gin (name gin_trgm_ops, company gin_trgm_ops);

      CREATE TABLE ??.deal_stage_history (
        deal_id     text NOT NULL,
        revision    bigint NOT NULL,
        from_stage  text,
        to_stage    text NOT NULL,
        reason      text,
        actor_id    text NOT NULL,
        on_behalf_of jsonb,
        at          timestamptz NOT NULL,
        PRIMARY KEY (deal_id, revision)
      );

      CREATE TABLE ??.deal_notes (
        deal_id    text NOT NULL,
        revision   bigint NOT NULL,
        note_id    text NOT NULL,
        text       text NOT NULL,
        author_id  text NOT NULL,
        at         timestamptz NOT NULL,
        PRIMARY KEY (deal_id, revision)
      );

      CREATE TABLE ??.pipeline (
        stage     text NOT NULL,
        currency  text NOT NULL,
        deals     bigint NOT NULL,
        total     numeric(24, 4) NOT NULL,
        PRIMARY KEY (stage, currency)
      );
    `, Array(11).fill(schema));
  },

  async apply(events, target) {
    const deals = target.rows<DealRow>('deals', 'deal_id');
    await deals.load(events.map((event) => (event.data as { dealId: string }).dealId));
    const history: Record<string, unknown>[] = [];
    const notes: Record<string, unknown>[] = [];
    const pipeline = new PipelineChanges();

    for (const recorded of events) {
      const event = recorded as unknown as DealEvent;
      const before = deals.get(event.data.dealId);
      const after = evolveRow(before, event, recorded);
      if (!after) continue;
      deals.set(after);
      pipeline.move(before, after);
      const at = event.metadata.occurredAt;
      const actorId = event.metadata.actor.id;
      // A worker's change made for an approved action names the action and its approvers.
      const step = { deal_id: after.deal_id, revision: String(recorded.revision), actor_id: actorId, on_behalf_of: event.metadata.onBehalfOf ?? null, at };
      if (event.type === 'DealCreated') history.push({ ...step, from_stage: null, to_stage: after.stage, reason: null });
      if (event.type === 'DealStageChanged' || event.type === 'DealClosed' || event.type === 'DealReopened') {
        history.push({ ...step, from_stage: before?.stage ?? null, to_stage: after.stage, reason: event.data.reason ?? null });
      }
      if (event.type === 'DealNoteAdded') {
        notes.push({ deal_id: after.deal_id, revision: step.revision, note_id: event.data.noteId, text: event.data.text, author_id: event.data.authorId, at });
      }
    }

    target.insert('deal_stage_history', history);
    target.insert('deal_notes', notes);
    pipeline.write(target);
  },
};

/** The deal's row after one event; events of a deal the model never saw created are skipped. */
function evolveRow(row: DealRow | undefined, event: DealEvent, recorded: RecordedEvent): DealRow | undefined {
  const touched = { revision: String(recorded.revision), updated_at: event.metadata.occurredAt };
  if (event.type === 'DealCreated') {
    const { dealId, name, company, amount, ownerId, tags, stage } = event.data;
    return {
      deal_id: dealId, name, company, amount: amount.amount, currency: amount.currency, owner_id: ownerId, tags, stage, status: 'open',
      lost_from: null, notes_count: 0, created_at: event.metadata.occurredAt, created_by: event.metadata.actor.id, ...touched,
    };
  }
  if (!row) return undefined;
  switch (event.type) {
    case 'DealUpdated': {
      const { name, company, amount, tags } = event.data;
      return {
        ...row, ...touched, name: name ?? row.name, company: company ?? row.company, tags: tags ?? row.tags,
        ...(amount ? { amount: amount.amount, currency: amount.currency } : {}),
      };
    }
    case 'DealOwnerAssigned':
      return { ...row, ...touched, owner_id: event.data.ownerId };
    case 'DealNoteAdded':
      return { ...row, ...touched, notes_count: row.notes_count + 1 };
    case 'DealStageChanged':
      return { ...row, ...touched, stage: event.data.to };
    case 'DealClosed':
      return { ...row, ...touched, stage: event.data.outcome, status: event.data.outcome, lost_from: event.data.outcome === 'lost' ? event.data.fromStage : null };
    case 'DealReopened':
      return { ...row, ...touched, stage: event.data.stage, status: 'open', lost_from: null };
    default: {
      const _exhaustive: never = event;
      return row;
    }
  }
}

/** Net changes to the pipeline per (stage, currency) over a batch, written as one upsert of increments. */
class PipelineChanges {
  private readonly changes = new Map<string, { stage: string; currency: string; deals: number; total: bigint }>();

  move(before: DealRow | undefined, after: DealRow): void {
    if (before) this.add(before, -1);
    this.add(after, 1);
  }

  write(target: ProjectionTarget): void {
    const rows = [...this.changes.values()]
      .filter((change) => change.deals !== 0 || change.total !== 0n)
      .map(({ stage, currency, deals, total }) => ({ stage, currency, deals, total: fromTenThousandths(total) }));
    target.insert('pipeline', rows, { conflict: ['stage', 'currency'], add: ['deals', 'total'] });
  }

  private add(row: DealRow, sign: 1 | -1): void {
    const key = `${row.stage}\u0000${row.currency}`;
    const change = this.changes.get(key) ?? { stage: row.stage, currency: row.currency, deals: 0, total: 0n };
    change.deals += sign;
    change.total += BigInt(sign) * toTenThousandths(row.amount);
    this.changes.set(key, change);
  }
}
