import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Position } from '../../eventstore/contract.js';
import { lockHeldSql } from '../../platform/advisory-lock.js';
import type { Projection } from './projection.js';

/** A projection's tables in one schema, with their checkpoint. A rebuild makes a new generation. */
export interface Generation {
  schema: string;
  projection: string;
  version: number;
  state: 'building' | 'active' | 'retired';
  /** The last position applied; null before the first batch. */
  checkpoint: Position | null;
}

/** Projection checkpoints are announced here as `<projection> <position>` once committed. */
export const CHECKPOINT_CHANNEL = 'ds_projection_checkpoint';

/** Another runner moved the checkpoint, or the generation was swapped out: stop writing to it. */
export class GenerationLostError extends Error {}

const GENERATION_COLUMNS = ['schema_name as schema', 'projection', 'version', 'state', 'checkpoint'];

export async function activeGeneration(knex: Knex, name: string): Promise<Generation | undefined> {
  return knex('projection_generations as g')
    .join('projections as p', 'p.active_schema', 'g.schema_name')
    .where('p.name', name)
    .first(GENERATION_COLUMNS.map((column) => `g.${column}`));
}

export async function readGeneration(knex: Knex, schema: string): Promise<Generation | undefined> {
  return knex('projection_generations').where('schema_name', schema).first(GENERATION_COLUMNS);
}

/** The active generation, created with empty tables (and made active) on first use. */
export async function ensureGeneration(knex: Knex, projection: Projection): Promise<Generation> {
  return knex.transaction(async (trx) => {
    // Concurrent starts (several processes migrating at once) create one generation.
    await trx.raw('SELECT pg_advisory_xact_lock(4243, hashtext(?))', [projection.name]);
    const active = await activeGeneration(trx, projection.name);
    if (active) return active;
    const generation = await createGeneration(trx, projection, 'active');
    await trx('projections').insert({ name: projection.name, active_schema: generation.schema });
    await pointViews(trx, projection, generation.schema);
    return generation;
  });
}

/** The schema of a new generation of the projection. */
export function newGenerationSchema(projection: Projection): string {
  return `p_${projection.name}_v${projection.version}_${randomBytes(4).toString('hex')}`;
}

/** A new generation with empty tables, filled by a rebuild before it is swapped in. */
export async function createGeneration(
  knex: Knex,
  projection: Projection,
  state: 'building' | 'active' = 'building',
  schema = newGenerationSchema(projection),
): Promise<Generation> {
  const create = async (trx: Knex.Transaction) => {
    await trx.raw('CREATE SCHEMA ??', [schema]);
    await projection.createTables(trx, schema);
    await trx('projection_generations').insert({ schema_name: schema, projection: projection.name, version: projection.version, state });
  };
  await (knex.isTransaction ? create(knex as Knex.Transaction) : knex.transaction(create));
  return { schema, projection: projection.name, version: projection.version, state, checkpoint: null };
}

/**
 * Drops a new generation's secondary indexes and returns their definitions: a rebuild fills the
 * tables first and builds those indexes in bulk once caught up, far cheaper than row by row.
 * Primary keys and unique indexes stay, since upserts need them.
 */
export async function deferIndexes(knex: Knex, schema: string): Promise<string[]> {
  const { rows } = await knex.raw<{ rows: { name: string; definition: string }[] }>(
    `SELECT indexname AS name, indexdef AS definition FROM pg_indexes
      WHERE schemaname = ? AND indexdef NOT LIKE 'CREATE UNIQUE INDEX%'`,
    [schema],
  );
  for (const index of rows) await knex.raw('DROP INDEX ??.??', [schema, index.name]);
  return rows.map((index) => index.definition);
}

/** Builds the indexes `deferIndexes` put off. */
export async function restoreIndexes(knex: Knex, definitions: readonly string[]): Promise<void> {
  for (const definition of definitions) await knex.raw(definition);
}

/**
 * Tells queries waiting to read their writes that an active generation has passed `position`. The
 * announcements of one turn of the event loop (one wake-up reaches every runner of a process) go
 * out in one statement.
 */
export function announceCheckpoint(knex: Knex, generation: Generation, position: Position): Promise<void> {
  if (generation.state !== 'active') return Promise.resolve();
  let pending = announcing.get(knex);
  if (!pending) {
    const announcements: string[] = [];
    const sent = new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        announcing.delete(knex);
        const calls = announcements.map(() => 'pg_notify(?, ?)').join(', ');
        knex
          .raw(`SELECT ${calls}`, announcements.flatMap((announcement) => [CHECKPOINT_CHANNEL, announcement]))
          .options({ name: `ds_announce_${announcements.length}` })
          .then(() => resolve(), reject);
      }),
    );
    pending = { announcements, sent };
    announcing.set(knex, pending);
  }
  pending.announcements.push(`${generation.projection} ${position}`);
  return pending.sent;
}

const announcing = new WeakMap<Knex, { announcements: string[]; sent: Promise<void> }>();

/**
 * Makes a rebuilt generation the one queries read, atomically, unless the active one is further
 * along (the caller then catches up and tries again). The old generation's schema is dropped after.
 */
export async function swapIn(knex: Knex, projection: Projection, generation: Generation): Promise<boolean> {
  const retired = await knex.transaction(async (trx) => {
    const row = await trx('projections').where('name', projection.name).forUpdate().first('active_schema');
    const active = row && (await readGeneration(trx, row.active_schema as string));
    const mine = await readGeneration(trx, generation.schema);
    if (!mine || mine.state !== 'building') throw new GenerationLostError(`${generation.schema} is not being built`);
    if (active?.checkpoint && (!mine.checkpoint || mine.checkpoint < active.checkpoint)) return undefined;
    if (row) await trx('projections').where('name', projection.name).update({ active_schema: generation.schema });
    else await trx('projections').insert({ name: projection.name, active_schema: generation.schema });
    if (active) await trx('projection_generations').where('schema_name', active.schema).update({ state: 'retired' });
    await trx('projection_generations').where('schema_name', generation.schema).update({ state: 'active' });
    await pointViews(trx, projection, generation.schema);
    if (mine.checkpoint) await trx.raw('SELECT pg_notify(?, ?)', [CHECKPOINT_CHANNEL, `${projection.name} ${mine.checkpoint}`]);
    return active?.schema ?? null;
  });
  if (retired === undefined) return false;
  if (retired) await dropGeneration(knex, retired);
  return true;
}

/** The lock the active runner of a projection holds; standbys wait on it. */
export const projectionLockKey = (name: string) => `projection:${name}`;

/** The lock a rebuild holds on its generation while it fills it: a building generation nobody holds is abandoned. */
export const rebuildLockKey = (schema: string) => `rebuild:${schema}`;
/** rebuildLockKey in SQL, for a column holding the schema. */
export const rebuildLockKeySql = (column: string) => `'rebuild:' || ${column}`;

/** Drops the generations of rebuilds that died (their process no longer holds the rebuild lock). */
export async function dropAbandonedGenerations(knex: Knex, projection: Projection): Promise<string[]> {
  const abandoned = await knex('projection_generations')
    .where({ projection: projection.name, state: 'building' })
    .whereRaw(`NOT ${lockHeldSql(rebuildLockKeySql('schema_name'))}`)
    .pluck('schema_name');
  for (const schema of abandoned) await dropGeneration(knex, schema);
  return abandoned;
}

/** Drops a generation that is not active (a retired one, or an abandoned rebuild). */
export async function dropGeneration(knex: Knex, schema: string): Promise<void> {
  await knex.transaction(async (trx) => {
    // Never the tables queries read, whoever asks.
    const row = await trx('projection_generations').where('schema_name', schema).forUpdate().first('state');
    if (row?.state === 'active') return;
    await trx.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
    await trx('projection_generations').where('schema_name', schema).delete();
  });
}

/** Queries read `read.<table>`: views over the active generation's tables. */
async function pointViews(trx: Knex.Transaction, projection: Projection, schema: string): Promise<void> {
  for (const table of projection.tables) {
    await trx.raw('DROP VIEW IF EXISTS read.??', [table]);
    await trx.raw('CREATE VIEW read.?? AS SELECT * FROM ??.??', [table, schema, table]);
  }
}
