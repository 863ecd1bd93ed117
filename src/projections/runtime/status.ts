import type { Knex } from 'knex';
import type { EventStore, Position } from '../../eventstore/contract.js';
import { lockHeldSql } from '../../platform/advisory-lock.js';
import { projectionLockKey, rebuildLockKeySql } from './generations.js';
import type { Projection } from './projection.js';

/** Lag is counted exactly up to this many events; beyond it the count says "at least". */
const LAG_COUNT_LIMIT = 10_000;

export interface ProjectionStatus {
  name: string;
  /** live, catching up, rebuilding (a new generation is being filled), or stopped (no runner holds it). */
  state: 'live' | 'catching up' | 'rebuilding' | 'stopped';
  version: number | null;
  codeVersion: number;
  schema: string | null;
  checkpoint: Position | null;
  checkpointAt: string | null;
  eventsApplied: number;
  lag: { events: number; atLeast: boolean; seconds: number };
  /** A rebuild under way, or abandoned (its process died; the next rebuild or runner start drops it). */
  rebuild: { schema: string; eventsApplied: number; checkpoint: Position | null; abandoned: boolean } | null;
}

/** Where each projection stands against the log: checkpoint, lag in events and in time, state. */
export async function projectionStatus(knex: Knex, eventStore: EventStore, projections: readonly Projection[]): Promise<ProjectionStatus[]> {
  return Promise.all(
    projections.map(async (projection) => {
      const generations = await knex('projection_generations as g')
        .leftJoin('projections as p', 'p.active_schema', 'g.schema_name')
        .where('g.projection', projection.name)
        .whereNot('g.state', 'retired')
        .orderBy('g.created_at', 'desc')
        .select(
          'g.*',
          knex.raw(`${lockHeldSql('?')} AS running`, [projectionLockKey(projection.name)]),
          knex.raw(`${lockHeldSql(rebuildLockKeySql('g.schema_name'))} AS rebuild_running`),
        );
      const active = generations.find((generation) => generation.state === 'active');
      const building = generations.find((generation) => generation.state === 'building');
      const lag = await lagAfter(eventStore, projection, active?.checkpoint ?? null);
      const running = Boolean(generations[0]?.running);
      return {
        name: projection.name,
        state: building?.rebuild_running ? 'rebuilding' : !running ? 'stopped' : lag.events > 0 ? 'catching up' : 'live',
        version: active?.version ?? null,
        codeVersion: projection.version,
        schema: active?.schema_name ?? null,
        checkpoint: active?.checkpoint ?? null,
        checkpointAt: active?.checkpoint_at ? (active.checkpoint_at as Date).toISOString() : null,
        eventsApplied: Number(active?.events_applied ?? 0),
        lag,
        rebuild: building
          ? { schema: building.schema_name, eventsApplied: Number(building.events_applied), checkpoint: building.checkpoint, abandoned: !building.rebuild_running }
          : null,
      } satisfies ProjectionStatus;
    }),
  );
}

/** Events the projection has yet to apply, and how long the oldest of them has waited. */
async function lagAfter(eventStore: EventStore, projection: Projection, checkpoint: Position | null): Promise<ProjectionStatus['lag']> {
  let events = 0;
  let oldest: Date | undefined;
  for await (const event of eventStore.readAll({ from: checkpoint ?? 'start', maxCount: LAG_COUNT_LIMIT, filter: { eventTypes: [...projection.eventTypes] } })) {
    oldest ??= event.recordedAt;
    events++;
  }
  return { events, atLeast: events === LAG_COUNT_LIMIT, seconds: oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0 };
}
