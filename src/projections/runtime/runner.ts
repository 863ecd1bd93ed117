import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { EventStore, Position, RecordedEvent } from '../../eventstore/contract.js';
import type { Logger } from '../../platform/logger.js';
import { acquireLock, type HeldLock } from '../../platform/advisory-lock.js';
import { OutageLog } from '../../platform/outage-log.js';
import { unreachableDependency } from '../../platform/unreachable.js';
import { batches } from '../../eventstore/batches.js';
import {
  GenerationLostError,
  announceCheckpoint,
  createGeneration,
  deferIndexes,
  dropAbandonedGenerations,
  dropGeneration,
  ensureGeneration,
  newGenerationSchema,
  projectionLockKey,
  readGeneration,
  rebuildLockKey,
  restoreIndexes,
  swapIn,
  type Generation,
} from './generations.js';
import { GenerationWriter } from './generation-writer.js';
import type { Projection } from './projection.js';

/** How often a live runner stores a checkpoint that only skipped other events' types. */
const STORE_PASSED_EVERY_MS = 1000;

export interface RunnerDependencies {
  knex: Knex;
  eventStore: EventStore;
  logger: Logger;
  /** For the advisory lock's own connection. */
  databaseUrl: string;
  /** Events per transaction while catching up. */
  batchSize?: number;
}

/** Told after each batch of a rebuild: how many log events it has replayed so far. */
export type OnProgress = (eventsReplayed: number) => void;

/**
 * Keeps one projection's active generation current. Several processes may run it: one holds the
 * projection's advisory lock and works, the others wait on the lock and take over when it dies.
 * A projection whose version changed is rebuilt first (queries read the old tables meanwhile).
 */
export async function runProjection(projection: Projection, deps: RunnerDependencies, signal: AbortSignal): Promise<void> {
  const { logger } = deps;
  // While PostgreSQL is away every try fails: the log says so once, then once per interval.
  const unreachable = new OutageLog(logger, { down: 'projection runner cannot reach postgres; resuming from its checkpoint once it is back', meta: { projection: projection.name } });
  let failures = 0;
  while (!signal.aborted) {
    const lock = await acquireLock(deps.databaseUrl, projectionLockKey(projection.name), signal).catch((error: unknown) => {
      if (unreachableDependency(error)) unreachable.failed(error);
      else logger.warn('projection lock unavailable', { projection: projection.name, error: (error as Error).message });
      failures++;
      return undefined;
    });
    if (lock) {
      unreachable.recovered();
      const working = AbortSignal.any([signal, lock.lost]);
      try {
        logger.info('projection runner active', { projection: projection.name });
        const abandoned = await dropAbandonedGenerations(deps.knex, projection);
        if (abandoned.length) logger.info('dropped the generations of rebuilds that died', { projection: projection.name, abandoned });
        while (!working.aborted) {
          let generation = await ensureGeneration(deps.knex, projection);
          if (generation.version !== projection.version) {
            logger.info('projection version changed: rebuilding', { projection: projection.name, from: generation.version, to: projection.version });
            generation = await rebuildProjection(projection, deps, working);
          }
          await follow(projection, generation, deps, working, 'live');
          failures = 0;
        }
      } catch (error) {
        if (unreachableDependency(error)) unreachable.failed(error);
        else if (!(error instanceof GenerationLostError)) logger.warn('projection runner failed; resuming from its checkpoint', { projection: projection.name, error: (error as Error).message });
        if (!(error instanceof GenerationLostError)) failures++;
      } finally {
        await lock.release();
      }
    }
    if (!signal.aborted && failures > 0) {
      await sleep(Math.min(5000, 100 * 2 ** Math.min(failures - 1, 6)), undefined, { signal }).catch(() => undefined);
    }
  }
}

/** Rebuilds one projection (see rebuildProjections); returns its generation, now active. */
export async function rebuildProjection(
  projection: Projection,
  deps: RunnerDependencies,
  signal: AbortSignal,
  onProgress?: OnProgress,
): Promise<Generation> {
  const [generation] = await rebuildProjections([projection], deps, signal, onProgress);
  return generation!;
}

/**
 * Replays history into new generations and swaps each in once it has caught up; until then queries
 * read the previous tables. The projections share one read of the log (reading is much of a
 * rebuild's cost); secondary indexes are built in bulk once caught up.
 */
export async function rebuildProjections(
  projections: readonly Projection[],
  deps: RunnerDependencies,
  signal: AbortSignal,
  onProgress?: OnProgress,
): Promise<Generation[]> {
  const generations: Generation[] = [];
  const swapped = new Set<Generation>();
  const locks: HeldLock[] = [];
  try {
    for (const projection of projections) {
      await dropAbandonedGenerations(deps.knex, projection);
      // Held while the generation is built, so that nobody takes it for abandoned.
      const schema = newGenerationSchema(projection);
      const lock = await acquireLock(deps.databaseUrl, rebuildLockKey(schema), signal);
      if (!lock) throw new Error('rebuild stopped');
      locks.push(lock);
      generations.push(await createGeneration(deps.knex, projection, 'building', schema));
    }
    const deferred: string[][] = [];
    for (const generation of generations) deferred.push(await deferIndexes(deps.knex, generation.schema));
    await replayTogether(projections, generations, deps, signal, onProgress);
    for (const [i, projection] of projections.entries()) {
      const generation = generations[i]!;
      await restoreIndexes(deps.knex, deferred[i]!);
      for (;;) {
        // Catch up with what came while the indexes were built, or while a swap was refused.
        await follow(projection, generation, deps, signal, 'rebuild');
        if (signal.aborted) throw new Error('rebuild stopped');
        if (await swapIn(deps.knex, projection, generation)) break;
      }
      swapped.add(generation);
    }
    return generations.map((generation) => ({ ...generation, state: 'active' }));
  } catch (error) {
    for (const generation of generations) {
      if (!swapped.has(generation)) await dropGeneration(deps.knex, generation.schema).catch(() => undefined);
    }
    throw error;
  } finally {
    for (const lock of locks) await lock.release();
  }
}

/** Fills empty generations from the start of the log until caught up, with one read of it for all. */
async function replayTogether(
  projections: readonly Projection[],
  generations: readonly Generation[],
  deps: RunnerDependencies,
  signal: AbortSignal,
  onProgress?: OnProgress,
): Promise<void> {
  const types = projections.map((projection) => new Set(projection.eventTypes));
  const writers = projections.map((projection, i) => new GenerationWriter(deps.knex, projection, generations[i]!));
  let applied = 0;
  // The statements of the batch before, still running while the next batch is applied.
  let committing: Promise<unknown> = Promise.resolve();
  const subscription = deps.eventStore.subscribe({ from: 'start', filter: { eventTypes: [...new Set(types.flatMap((set) => [...set]))] }, signal });
  for await (const batch of batches(subscription, deps.batchSize ?? 2000)) {
    if (batch.position !== writers[0]!.checkpoint) {
      const prepared = await Promise.all(writers.map((writer, i) => writer.prepare(batch.events.filter((event) => types[i]!.has(event.type)), batch.position)));
      await committing;
      onProgress?.(applied);
      // Each projection's statement on a connection of its own, side by side: PostgreSQL works on them in parallel.
      committing = Promise.all(prepared.map((statement, i) => writers[i]!.commit(statement)));
      committing.catch(() => undefined); // awaited at the next batch or the end
      applied += batch.events.length;
    }
    if (batch.caughtUp) break;
  }
  await committing;
  onProgress?.(applied);
}

/**
 * Applies batches to a generation, each in one statement with its checkpoint. 'live' runs until
 * aborted (or the generation is swapped out); 'rebuild' returns once caught up.
 */
async function follow(
  projection: Projection,
  generation: Generation,
  deps: RunnerDependencies,
  signal: AbortSignal,
  mode: 'live' | 'rebuild',
): Promise<void> {
  const stored = await readGeneration(deps.knex, generation.schema);
  if (!stored) throw new GenerationLostError(`${generation.schema} is gone`);
  const writer = new GenerationWriter(deps.knex, projection, generation, stored.checkpoint);
  let passed = stored.checkpoint;
  let storedAt = performance.now();
  // The loop and the timer that stores a skipped-over position take turns writing.
  let writing: Promise<void> = Promise.resolve();
  let storeLater: NodeJS.Timeout | undefined;
  const store = (events: RecordedEvent[], position: Position) =>
    (writing = writing.then(async () => {
      if (position === writer.checkpoint) return;
      await writer.write(events, position);
      storedAt = performance.now();
    }));

  const subscription = deps.eventStore.subscribe({ from: stored.checkpoint ?? 'start', filter: { eventTypes: [...projection.eventTypes] }, signal });
  try {
    for await (const batch of batches(subscription, deps.batchSize ?? 2000)) {
      if (batch.position !== passed) {
        passed = batch.position;
        if (mode === 'live' && batch.events.length === 0 && performance.now() - storedAt < STORE_PASSED_EVERY_MS) {
          // Only events of other types went by: say so at once (queries waiting for them go on), and
          // store it a little later unless a batch does first. No write now means no transaction id
          // holding the other subscribers back.
          await announceCheckpoint(deps.knex, generation, passed);
          storeLater ??= setTimeout(() => {
            storeLater = undefined;
            // A failure here shows again, and is handled, at the loop's next write.
            store([], passed!).catch(() => undefined);
          }, STORE_PASSED_EVERY_MS);
        } else {
          await store(batch.events, batch.position);
        }
      }
      if (mode === 'rebuild' && batch.caughtUp) return;
    }
  } finally {
    clearTimeout(storeLater);
    await writing.catch(() => undefined);
  }
}
