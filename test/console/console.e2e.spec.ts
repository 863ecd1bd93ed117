import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { build } from 'vite';
import { createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { patient } from '../support/async.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'artifacts', 'console');
/** Playwright waits for conditions up to this long: generous, for a busy 2-core machine. */
const WAIT = patient(15_000);

/**
 * The operator console in headless Debian Chromium (playwright-core), against an in-process app
 * listening on a loopback port with its projections running, the console built by Vite into a
 * directory of the test's own (so it tests the sources as they are, without `npm run build`).
 * Skipped, saying why, where Chromium is not installed (scripts/ensure-chromium.sh installs it).
 */
describe('the operator console in a browser', function () {
  this.timeout(patient(120_000));
  let harness: TestApp;
  let server: Server;
  let browser: Browser;
  let base: string;
  let consoleDir: string;
  let keys: Record<string, string>;
  const offOrigin: string[] = [];
  const pageErrors: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      (skipped: no Chromium at ${CHROMIUM}; run scripts/ensure-chromium.sh or set CHROMIUM_PATH)`);
      this.skip();
    }
    consoleDir = mkdtempSync(path.join(tmpdir(), 'dealstream-console-'));
    await build({ configFile: path.join(ROOT, 'console/vite.config.ts'), logLevel: 'error', build: { outDir: consoleDir, emptyOutDir: true } });
    harness = await startTestApp({ projections: true, http: { consoleDir } });
    keys = await createKeys(harness.knex, { olga: 'operator', ana: 'approver', bo: 'approver', scout: 'agent' });
    server = harness.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server.close(resolve));
    await harness?.close();
    if (consoleDir) rmSync(consoleDir, { recursive: true, force: true });
  });

  /** A fresh browser session (its own sessionStorage) that records any request leaving the origin. */
  async function session(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('request', (req) => {
      if (new URL(req.url()).origin !== base && !req.url().startsWith('data:')) offOrigin.push(req.url());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      // A refused request (400, 401, 412) is logged by the browser; the page shows its detail itself.
      if (message.type() === 'error' && !/status of 4(00|01|12)/.test(message.text())) pageErrors.push(message.text());
    });
    return page;
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.goto(`${base}/console/`);
    await page.getByLabel('Token or API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Approval inbox', level: 1 }).waitFor();
  }

  async function expectAccessible(page: Page, name: string): Promise<void> {
    const { violations } = await new AxeBuilder({ page }).analyze();
    const grave = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(grave.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), `${name}: axe`).to.deep.equal([]);
  }

  const bearer = (who: string) => ({ authorization: `Bearer ${keys[who]}` });

  /** An agent's proposal: an email on a 40,000 EUR deal (one approver), or a data room on a large one (critical: two). */
  async function proposeOnNewDeal(title: string, critical = false): Promise<{ dealId: string; actionId: string }> {
    const amount = critical ? '25000000' : '40000';
    const deal = await request(harness.app).post('/api/deals').set(bearer('olga')).send({ name: 'Initech renewal', company: 'Initech', amount: { amount, currency: 'EUR' } });
    expect(deal.status, JSON.stringify(deal.body)).to.equal(201);
    const proposal = critical
      ? { kind: 'share_data_room', payload: { recipients: ['cfo@initech.test'], access: 'view' } }
      : { kind: 'send_email', payload: { to: ['cfo@initech.test'], subject: 'Renewal terms', body: 'Please find the renewal terms attached.' } };
    const proposed = await request(harness.app).post('/api/actions').set(bearer('scout')).send({ dealId: deal.body.id, title, ...proposal });
    expect(proposed.status, JSON.stringify(proposed.body)).to.equal(201);
    const action = await request(harness.app).get(`/api/actions/${proposed.body.id}`).query({ position: proposed.body.position }).set(bearer('ana'));
    expect(action.body, 'the policy asks one approver, or two').to.deep.include({ risk: critical ? 'critical' : 'medium', status: 'awaiting_approval' });
    return { dealId: deal.body.id, actionId: proposed.body.id };
  }

  it('signs in with a key, shows who is signed in, and the sign-in page passes axe', async () => {
    const page = await session();
    await page.goto(`${base}/console/`);
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    await expectAccessible(page, 'sign-in');
    await page.screenshot({ path: path.join(ARTIFACTS, 'sign-in.png'), fullPage: true });

    // A refusal shows the problem's detail.
    await page.getByLabel('Token or API key').fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).to.match(/\w/);

    await page.getByLabel('Token or API key').fill(keys.ana!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Approval inbox', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByRole('heading', { name: 'Signed in', level: 1 }).waitFor();
    expect(await page.locator('main').textContent()).to.include('ana').and.include('approver');
    await expectAccessible(page, 'account');
    await page.screenshot({ path: path.join(ARTIFACTS, 'account.png'), fullPage: true });
    // The credential lives in the tab: a reload keeps the person signed in; signing out forgets it.
    await page.reload();
    await page.getByRole('heading', { name: 'Signed in', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { length: number } }).sessionStorage.length)).to.equal(0);
    await page.context().close();
  });

  it("an agent's proposal: its proposer cannot approve it and is told why; an approver approves it with a note", async () => {
    const title = 'Send the renewal terms';
    const { actionId } = await proposeOnNewDeal(title);

    const proposer = await session();
    await signIn(proposer, keys.scout!);
    const own = proposer.getByRole('article', { name: title });
    await own.getByText('You proposed this action: nobody approves their own proposal.').waitFor();
    expect(await own.getByRole('button', { name: /Approve/ }).count()).to.equal(0);
    await expectAccessible(proposer, 'inbox (proposer)');
    await proposer.screenshot({ path: path.join(ARTIFACTS, 'inbox-proposer.png'), fullPage: true });

    const approver = await session();
    await signIn(approver, keys.ana!);
    const item = approver.getByRole('article', { name: title });
    await item.waitFor();
    const text = (await item.textContent()) ?? '';
    expect(text).to.include('medium').and.include('send_email').and.include('0 of 1 given').and.include('cfo@initech.test').and.include('Renewal terms');
    // The deal by name with its amount, the proposing agent by name, and the time left.
    expect(text).to.include('Initech renewal').and.include('40,000').and.include('scout (agent)').and.match(/in \d+ (d|h|min) /);
    await expectAccessible(approver, 'inbox (approver)');
    await approver.screenshot({ path: path.join(ARTIFACTS, 'inbox.png'), fullPage: true });

    // With the keyboard: the note, then the button; a double click sends one intent.
    await item.getByLabel('Note (optional)').fill('Terms match the signed quote');
    await item.getByRole('button', { name: `Approve “${title}”` }).dblclick();
    await approver.getByRole('status').getByText(`Approved “${title}”.`).waitFor();
    await item.waitFor({ state: 'detached' });
    await approver.getByText('Nothing awaits approval.').waitFor();

    const approved = await request(harness.app).get(`/api/actions/${actionId}`).set({ authorization: `Bearer ${keys.ana}` });
    expect(approved.body.approvals.given).to.have.length(1);
    expect(approved.body.approvals.given[0]).to.include({ by: 'ana', note: 'Terms match the signed quote' });
    await approver.screenshot({ path: path.join(ARTIFACTS, 'inbox-after-approval.png'), fullPage: true });
  });

  it('shows the refusal of a rejection without a reason, then rejects with one', async () => {
    const title = 'Email the board';
    const { actionId } = await proposeOnNewDeal(title);
    const page = await session();
    await signIn(page, keys.ana!);
    const item = page.getByRole('article', { name: title });
    await item.getByRole('button', { name: `Reject “${title}”` }).click();
    // The API's problem detail, as it answered (a reason is required).
    await item.getByRole('alert').getByText(/reason/i).waitFor();
    await item.getByLabel('Reason for rejecting').fill('Not before the audit');
    await item.getByRole('button', { name: `Reject “${title}”` }).click();
    await page.getByRole('status').getByText(`Rejected “${title}”.`).waitFor();
    await item.waitFor({ state: 'detached' });
    const rejected = await request(harness.app).get(`/api/actions/${actionId}`).set({ authorization: `Bearer ${keys.ana}` });
    expect(rejected.body.rejection).to.deep.equal({ by: 'ana', reason: 'Not before the audit' });
    await page.context().close();
  });

  it('refuses a decision on what changed meanwhile (412): reloads the item, says so, and the decision then goes through', async () => {
    const title = 'Open the data room';
    const { actionId } = await proposeOnNewDeal(title, true);
    const page = await session();
    // No live updates for this page (as when its connection drops): what it shows goes stale.
    await page.route('**/api/changes*', (route) => route.abort());
    await signIn(page, keys.ana!);
    const item = page.getByRole('article', { name: title });
    await item.getByText('0 of 2 given').waitFor();

    const meanwhile = await request(harness.app).post(`/api/actions/${actionId}/approve`).set(bearer('bo')).send({ note: 'fine by me' });
    expect(meanwhile.status, JSON.stringify(meanwhile.body)).to.equal(200);

    await item.getByLabel('Note (optional)').fill('Checked the recipients');
    await item.getByRole('button', { name: `Approve “${title}”` }).click();
    await item.getByRole('alert').getByText(`“${title}” changed while you were looking, so nothing was done`).waitFor();
    await item.getByText('1 of 2 given').waitFor();
    expect(await item.textContent()).to.include('bo').and.include('fine by me');
    expect((await request(harness.app).get(`/api/actions/${actionId}`).set(bearer('ana'))).body.approvals.given.map((a: { by: string }) => a.by)).to.deep.equal(['bo']);
    await page.screenshot({ path: path.join(ARTIFACTS, 'inbox-412.png'), fullPage: true });

    // What was typed is kept; deciding again on what it now shows goes through.
    expect(await item.getByLabel('Note (optional)').inputValue()).to.equal('Checked the recipients');
    await item.getByRole('button', { name: `Approve “${title}”` }).click();
    await page.getByRole('status').getByText(`Approved “${title}”.`).waitFor();
    await item.waitFor({ state: 'detached' });
    const approved = await request(harness.app).get(`/api/actions/${actionId}`).set(bearer('ana'));
    expect(approved.body.approvals.given.map((a: { by: string; note: string }) => [a.by, a.note])).to.deep.equal([['bo', 'fine by me'], ['ana', 'Checked the recipients']]);
    await page.context().close();
  });

  it('made no request outside its origin, and broke no rule of its CSP', () => {
    expect(offOrigin).to.deep.equal([]);
    expect(pageErrors).to.deep.equal([]);
  });
});
