/**
 * The far end of the latency benchmark: a subscriber in its own process, as a projector would be.
 * It tells its parent when it is live, then when each LatencyProbe event arrives.
 */
import { PostgresEventStore } from '../src/eventstore/postgres/postgres-event-store.js';

const store = new PostgresEventStore({ connectionString: process.argv[2]!, poolMax: 2 });
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());

let ready = false;
for await (const message of store.subscribe({ from: 'end', signal: stop.signal })) {
  if ('kind' in message) {
    if (!ready && message.caughtUp) process.send!({ ready: (ready = true) });
    continue;
  }
  if (message.type === 'LatencyProbe') process.send!({ id: message.id, at: performance.timeOrigin + performance.now() });
}
await store.close();
process.disconnect();
