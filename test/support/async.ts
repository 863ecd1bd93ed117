/** Collects an async iterable into an array. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Resolves with the rejection of a promise, failing if it resolves. */
export async function rejectionOf(promise: Promise<unknown> | (() => Promise<unknown>)): Promise<unknown> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but it resolved');
}

/**
 * How many times longer than on a quiet machine a test may take here. The suite runs on shared
 * 2-core machines where a load of 4 to 14 makes everything several times slower (a worker process
 * took 10 to 30 s to start at a load of 12), so deadlines are written for a quiet machine and
 * multiplied by this: TEST_PATIENCE, 3 by default. A test that passes waits no longer for it; one
 * that fails says so later.
 */
export const PATIENCE = Math.max(1, Number(process.env.TEST_PATIENCE) || 3);

/** A deadline of `ms` on a quiet machine, on this one: for mocha's timeouts and any other wait. */
export const patient = (ms: number): number => ms * PATIENCE;

/** Polls `check` until it returns true, failing after `timeoutMs` (on a quiet machine; see PATIENCE). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + patient(timeoutMs);
  for (;;) {
    const started = performance.now();
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${patient(timeoutMs)} ms)`);
    // A slow check (reading many streams, say) waits as long as it took before the next: what it
    // waits for keeps at least half of the time, on a busy machine too.
    await new Promise((resolve) => setTimeout(resolve, Math.max(5, performance.now() - started)));
  }
}
