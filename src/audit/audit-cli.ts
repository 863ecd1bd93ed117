import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { Presets, SingleBar } from 'cli-progress';
import type { EventStore } from '../eventstore/contract.js';
import { verifyLog, type LogVerification } from './chain-verification.js';
import type { LogSelection } from './log-selection.js';
import { exportNdjson } from './ndjson-export.js';

/**
 * `dealstream audit export`: NDJSON to a file or stdout, a counter on stderr. The counter has no
 * total: only a whole stream could be counted cheaply (by its last revision), and a count of the
 * log would read it twice.
 */
export async function exportWithProgress(eventStore: EventStore, selection: LogSelection, outFile?: string): Promise<void> {
  const out = outFile ? createWriteStream(outFile) : process.stdout;
  const progress = eventCounter('exported');
  let written: number;
  try {
    written = await exportNdjson(eventStore, selection, out, progress.update);
    if (outFile) await finished(out.end());
  } finally {
    progress.stop();
    if (outFile && !out.closed) out.destroy();
  }
  process.stderr.write(`dealstream: exported ${written} event${written === 1 ? '' : 's'}${outFile ? ` to ${outFile}` : ''}\n`);
}

/** `dealstream audit verify`: every stream's chain in one read of the log; true when none is broken. */
export async function verifyWithProgress(eventStore: EventStore, json: boolean): Promise<boolean> {
  const progress = eventCounter('verified');
  let result: LogVerification;
  try {
    result = await verifyLog(eventStore, progress.update);
  } finally {
    progress.stop();
  }
  const valid = result.broken.length === 0;
  if (json) {
    process.stdout.write(JSON.stringify({ valid, ...result }, null, 2) + '\n');
    return valid;
  }
  const lines = [
    ...result.broken.map((b) => ['broken', b.streamId, `revision ${b.revision}`, b.reason, `expected ${b.expected ?? '-'}`, `found ${b.found ?? '-'}`]),
    ...result.unchained.map((streamId) => ['unchained', streamId]),
  ];
  for (const line of lines) process.stdout.write(line.join('\t') + '\n');
  process.stdout.write(`streams ${result.streams}, events ${result.events}, broken ${result.broken.length}, unchained ${result.unchained.length}\n`);
  return valid;
}

/** A running count of events on stderr (a line every 5 s when it is no terminal). */
function eventCounter(verb: string) {
  const bar = new SingleBar(
    { format: `${verb} {value} events | {rate} ev/s | {duration_formatted}`, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 5000 },
    Presets.shades_classic,
  );
  const started = performance.now();
  bar.start(0, 0, { rate: 0 });
  return {
    update: (events: number) => bar.update(events, { rate: Math.round(events / ((performance.now() - started) / 1000)) }),
    stop: () => bar.stop(),
  };
}
