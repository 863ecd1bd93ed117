import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { builtConsoleDir } from '../src/http/console.js';
import { createKnex } from '../src/platform/database.js';
import { createApiKey } from '../test/support/principals.js';
import { waitForReady } from './http.bench.js';
import { percentile, round, type Figures } from './stats.js';
import { dropQueues } from './workers.bench.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The console's first page: cold loads (a new browser context each, so no cache) of the approval
 * inbox with `items` pending approvals, signed in, in headless Chromium against the API in its own
 * process, until the inbox has rendered them (the page's `dealstream:inbox-ready` mark). The
 * baseline, in the same run, is a cold load of a blank page of the same origin; the built assets'
 * gzip size is reported beside. Builds the console first when dist/console has no build.
 */
export async function benchConsole(options: { databaseUrl: string; loads: number; items: number; log: (line: string) => void }): Promise<Record<string, Figures>> {
  const { databaseUrl, loads, items, log } = options;
  if (!existsSync(CHROMIUM)) {
    log(`console: skipped, no Chromium at ${CHROMIUM} (scripts/ensure-chromium.sh installs it)`);
    return {};
  }
  const dir = builtConsoleDir();
  if (!existsSync(path.join(dir, 'index.html'))) {
    log('console: building it into dist/console');
    await build({ configFile: 'console/vite.config.ts', logLevel: 'error' });
  }
  const knex = createKnex(databaseUrl, 2);
  const stamp = Date.now();
  const key = async (role: 'agent' | 'approver' | 'operator') => (await createApiKey(knex, `bench-${role}-${stamp}`, role)).key;
  const [agent, approver, operator] = [await key('agent'), await key('approver'), await key('operator')];
  await knex.destroy();

  const port = 20000 + Math.floor(Math.random() * 20000);
  const queuePrefix = `dsbench-console-${process.pid}`;
  const api = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'all'], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'warn', QUEUE_PREFIX: queuePrefix },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitForReady(base);
    log(`console: ${items} pending approvals, ${loads} cold loads of the inbox`);
    let position = '';
    for (let i = 0; i < items; i++) {
      const post = (url: string, key: string, body: object) =>
        fetch(`${base}${url}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((res) => res.json() as Promise<{ id: string; position: string }>);
      const deal = await post('/api/deals', operator, { name: `Deal ${i}`, company: 'Bench Ltd', amount: { amount: '40000', currency: 'EUR' } });
      const proposed = await post('/api/actions', agent, { dealId: deal.id, kind: 'send_email', title: `Email ${i}`, payload: { to: ['cfo@bench.test'], subject: 'Terms', body: 'Attached.' } });
      position = proposed.position;
    }
    // Every proposal visible before timing starts.
    await fetch(`${base}/api/hitl/approval-queue?limit=1&position=${position}`, { headers: { authorization: `Bearer ${approver}` } });

    const usable: number[] = [];
    const blank: number[] = [];
    for (let i = 0; i < loads; i++) {
      const context = await browser.newContext();
      await context.addInitScript(`sessionStorage.setItem('dealstream.credential', ${JSON.stringify(approver)})`);
      const page = await context.newPage();
      await page.goto(`${base}/console/inbox`);
      await page.waitForFunction(() => performance.getEntriesByName('dealstream:inbox-ready').length > 0, undefined, { timeout: 60_000 });
      usable.push(await page.evaluate(() => performance.getEntriesByName('dealstream:inbox-ready')[0]!.startTime));
      await context.close();

      const baseline = await browser.newContext();
      const blankPage = await baseline.newPage();
      await blankPage.goto(`${base}/health/live`);
      blank.push(await blankPage.evaluate<number>("performance.getEntriesByType('navigation')[0].loadEventEnd"));
      await baseline.close();
    }
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const assets = path.join(dir, 'assets');
    const gzipBytes = readdirSync(assets).reduce((sum, file) => sum + gzipSync(readFileSync(path.join(assets, file))).length, 0);
    return {
      consoleInbox: {
        events: loads,
        seconds: round(usable.reduce((a, b) => a + b, 0) / 1000),
        eventsPerSecond: 0,
        p50Ms: round(percentile(sorted(usable), 50)),
        p99Ms: round(percentile(sorted(usable), 99)),
        blankPageP50Ms: round(percentile(sorted(blank), 50)),
        items,
        assetsGzipKiB: round(gzipBytes / 1024),
      },
    };
  } finally {
    await browser.close();
    api.kill('SIGTERM');
    await once(api, 'exit');
    await dropQueues(queuePrefix);
  }
}
