import type { Knex } from 'knex';
import { eventVersions } from '../../src/domain/upcasters.js';
import type { JsonObject, RecordedEvent } from '../../src/eventstore/contract.js';
import { encodePosition } from '../../src/eventstore/position.js';
import { GenerationWriter } from '../../src/projections/runtime/generation-writer.js';
import { ensureGeneration } from '../../src/projections/runtime/generations.js';
import type { Projection } from '../../src/projections/runtime/projection.js';
import { createKnex } from '../../src/platform/database.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface ProjectionHarness {
  knex: Knex;
  db: TestDatabase;
  /** Applies events as one batch through every projection that reads them, as the runtime would. */
  given(...events: RecordedEvent[]): Promise<void>;
  /** Rows of a read model as queries see them (`read.<table>`). */
  rows<T = Record<string, unknown>>(table: string, orderBy?: string): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * Given events, expect rows: projections on a fresh database, fed directly (no subscription).
 *   const h = await projectionHarness([dealsProjection]);
 *   await h.given(recorded('deal-1', 'DealCreated', {...}));
 *   expect(await h.rows('deals')).to.deep.equal([...]);
 */
export async function projectionHarness(projections: Projection[]): Promise<ProjectionHarness> {
  revisions.clear(); // each harness starts a fresh log
  const db = await createTestDatabase('dealstream_projection');
  const knex = createKnex(db.url, 2);
  // Kept from batch to batch, as a runner keeps its writers.
  const writers = new Map<Projection, GenerationWriter>();
  for (const projection of projections) writers.set(projection, new GenerationWriter(knex, projection, await ensureGeneration(knex, projection)));
  return {
    knex,
    db,
    async given(...events) {
      for (const projection of projections) {
        const mine = events.filter((event) => projection.eventTypes.includes(event.type));
        if (mine.length === 0) continue;
        await writers.get(projection)!.write(mine, mine.at(-1)!.position);
      }
    },
    rows: async <T>(table: string, orderBy?: string) => {
      const query = knex(`read.${table}`).select('*');
      return (await (orderBy ? query.orderByRaw(orderBy) : query)) as T[];
    },
    async close() {
      await knex.destroy();
      await db.drop();
    },
  };
}

let nextPosition = 1n;
const revisions = new Map<string, bigint>();

/**
 * A recorded event as a store would deliver it: revisions count per stream and positions rise.
 * `at` is both occurredAt and recordedAt; `actor` defaults to a user "ana"; `schemaVersion` to the
 * type's current one, as writers stamp it (give an older one with data in that version's shape).
 */
export function recorded(
  streamId: string,
  type: string,
  data: Record<string, unknown>,
  options: { at?: string; actor?: { kind: string; id: string }; id?: string; schemaVersion?: number } = {},
): RecordedEvent {
  const revision = revisions.get(streamId) ?? 0n;
  revisions.set(streamId, revision + 1n);
  const at = options.at ?? '2026-11-22T10:00:00.000Z';
  return {
    id: options.id ?? crypto.randomUUID(),
    streamId,
    type,
    revision,
    position: encodePosition(1n, nextPosition++),
    data: data as JsonObject,
    metadata: { actor: options.actor ?? { kind: 'user', id: 'ana' }, correlationId: 'c', causationId: 'r', occurredAt: at, schemaVersion: options.schemaVersion ?? eventVersions.currentVersion(type) },
    recordedAt: new Date(at),
  };
}
