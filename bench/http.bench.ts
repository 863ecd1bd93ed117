import { spawn } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';
import { createApiKey } from '../test/support/principals.js';
import { createKnex } from '../src/platform/database.js';
import type { Figures } from './stats.js';
import { dropQueues } from './workers.bench.js';

/**
 * HTTP command throughput: the API in its own process (as deployed), loaded over loopback by
 * autocannon with `connections` concurrent clients adding notes across `deals` deals.
 */
export async function benchHttpCommands(options: { databaseUrl: string; seconds: number; connections: number; deals: number; log: (line: string) => void; env?: Record<string, string> }): Promise<Figures> {
  const { databaseUrl, seconds, connections, deals, log, env = {} } = options;
  const knex = createKnex(databaseUrl, 2);
  const { key } = await createApiKey(knex, `bench-${Date.now()}`, 'operator');
  await knex.destroy();

  const port = 20000 + Math.floor(Math.random() * 20000);
  // The API opens the job queues: under a prefix of the bench's own, deleted at the end.
  const queuePrefix = `dsbench-http-${process.pid}`;
  const api = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'api'], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'warn', QUEUE_PREFIX: queuePrefix, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitForReady(base);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const ids: string[] = [];
    for (let i = 0; i < deals; i++) {
      const res = await fetch(`${base}/api/deals`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: `Deal ${i}`, company: 'Bench Ltd', amount: { amount: '1000000.00', currency: 'USD' } }),
      });
      ids.push(res.headers.get('location')!.split('/').pop()!);
    }

    log(`HTTP commands: POST /api/deals/:id/notes, ${connections} connections, ${deals} deals, ${seconds}s`);
    let next = 0;
    const result = await autocannon({
      url: base,
      connections,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          headers,
          body: JSON.stringify({ text: 'Call went well; follow up on the data room.' }),
          setupRequest: (request) => ({ ...request, path: `/api/deals/${ids[next++ % ids.length]}/notes` }),
        },
      ],
    });
    return {
      events: result.requests.total,
      seconds,
      eventsPerSecond: Math.round(result.requests.total / seconds),
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      connections,
    };
  } finally {
    api.kill('SIGTERM');
    await once(api, 'exit');
    await dropQueues(queuePrefix);
  }
}

export async function waitForReady(base: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the API did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
