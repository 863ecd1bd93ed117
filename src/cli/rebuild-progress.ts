import { Presets, SingleBar } from 'cli-progress';
import type { Projection } from '../projections/runtime/projection.js';
import { rebuildProjections } from '../projections/runtime/runner.js';
import type { Services } from './services.js';

/**
 * Rebuilds projections together with a progress bar and ETA on stderr (a line every 5 s when it is
 * no terminal). The events to replay are counted alongside (reading the log is much faster than
 * projecting it); the bar shows an ETA once they are.
 */
export async function rebuildWithProgress(projections: readonly Projection[], services: Services): Promise<void> {
  const { knex, eventStore, logger, config } = services;
  const names = projections.map((projection) => projection.name).join(', ');
  const eventTypes = [...new Set(projections.flatMap((projection) => projection.eventTypes))];
  const bar = new SingleBar(
    {
      format: `${names} [{bar}] {percentage}% | {value}/{total} events | {rate} ev/s | ETA {eta_formatted}`,
      stream: process.stderr,
      etaBuffer: 50,
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    Presets.shades_classic,
  );
  const started = performance.now();
  bar.start(0, 0, { rate: 0 });
  let counted = false;
  void (async () => {
    let total = 0;
    for await (const _ of eventStore.readAll({ filter: { eventTypes } })) total++;
    counted = true;
    bar.setTotal(total);
  })().catch((error: unknown) => logger.warn('could not count the events to replay', { error: (error as Error).message }));

  const stopping = new AbortController();
  const stop = () => stopping.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const deps = { knex, eventStore, logger, databaseUrl: config.DATABASE_URL, batchSize: config.PROJECTION_BATCH_SIZE };
    await rebuildProjections(projections, deps, stopping.signal, (replayed) => {
      const rate = Math.round(replayed / ((performance.now() - started) / 1000));
      if (!counted && replayed > bar.getTotal()) bar.setTotal(replayed);
      bar.update(replayed, { rate });
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    bar.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(`dealstream: rebuilt ${names} in ${seconds.toFixed(1)} s and swapped them in\n`);
}
