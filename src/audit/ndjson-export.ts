import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { EventStore } from '../eventstore/contract.js';
import { toExportedEvent } from './audit-event.js';
import { selectedEvents, type LogSelection } from './log-selection.js';

/** Lines are gathered into chunks of about this size: one write per event would cost more than the JSON. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Writes a selection of the log to `out` as NDJSON, one event per line in its type's current shape
 * (toExportedEvent), for the HTTP export and the CLI alike. Memory stays flat however long the log:
 * the store is read in batches, and when `out` is full the read waits for it to drain. When `out`
 * closes early (a client hung up) the read stops. Returns the number of events written; does not
 * end `out`.
 */
export async function exportNdjson(store: EventStore, selection: LogSelection, out: Writable, onProgress?: (written: number) => void): Promise<number> {
  const closed = new AbortController();
  let failure: Error | undefined;
  const onClose = () => closed.abort();
  const onError = (error: Error) => {
    failure = error;
    closed.abort();
  };
  out.once('close', onClose);
  out.once('error', onError);

  const write = async (chunk: string) => {
    if (closed.signal.aborted) return;
    if (!out.write(chunk)) await once(out, 'drain', { signal: closed.signal }).catch(() => undefined);
  };
  let written = 0;
  let chunk = '';
  try {
    for await (const event of selectedEvents(store, selection)) {
      chunk += JSON.stringify(toExportedEvent(event)) + '\n';
      written++;
      if (chunk.length < CHUNK_CHARS) continue;
      await write(chunk);
      chunk = '';
      onProgress?.(written);
      if (closed.signal.aborted) break;
    }
    if (chunk) await write(chunk);
    onProgress?.(written);
  } finally {
    out.off('close', onClose);
    out.off('error', onError);
  }
  if (failure) throw failure;
  return written;
}
