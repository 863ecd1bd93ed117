/** What the queue needs to know of an append. */
export interface Queued {
  streamId: string;
  /** Serialized size, to keep statements bounded. */
  bytes: number;
}

const MAX_APPENDS_PER_BATCH = 100;
const MAX_BYTES_PER_BATCH = 4 * 1024 * 1024;

/**
 * Group commit for appends. At most `capacity` statements are in flight; appends arriving
 * meanwhile wait, and the next statement carries all of them that fit, so under concurrency many
 * appends share one round trip and one commit, and alone an append goes at once. Appends to one
 * stream never share a statement or overlap: each waits for the one before it, in arrival order.
 */
export class AppendQueue<T extends Queued> {
  private waiting: T[] = [];
  private readonly busyStreams = new Set<string>();
  private inFlight = 0;

  constructor(
    private readonly capacity: number,
    /** Writes a batch of appends to distinct streams; settles each append itself and never rejects. */
    private readonly write: (batch: T[]) => Promise<void>,
  ) {}

  push(append: T): void {
    this.waiting.push(append);
    this.drain();
  }

  private drain(): void {
    while (this.inFlight < this.capacity) {
      const batch = this.take();
      if (batch.length === 0) return;
      this.inFlight++;
      for (const append of batch) this.busyStreams.add(append.streamId);
      void this.write(batch).finally(() => {
        this.inFlight--;
        for (const append of batch) this.busyStreams.delete(append.streamId);
        this.drain();
      });
    }
  }

  /** The waiting appends that fit one statement, oldest first; a stream left behind keeps its order. */
  private take(): T[] {
    const batch: T[] = [];
    const held = new Set(this.busyStreams);
    const rest: T[] = [];
    let bytes = 0;
    for (const append of this.waiting) {
      const fits = batch.length === 0 || (batch.length < MAX_APPENDS_PER_BATCH && bytes + append.bytes <= MAX_BYTES_PER_BATCH);
      if (fits && !held.has(append.streamId)) {
        batch.push(append);
        bytes += append.bytes;
      } else {
        rest.push(append);
      }
      held.add(append.streamId);
    }
    this.waiting = rest;
    return batch;
  }
}
