import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { handleCommand, loadStream } from '../../src/commands/handle-command.js';
import { dealDecider } from '../../src/domain/deals/deal.decider.js';
import { actionKinds } from '../../src/domain/actions/action-kinds.js';
import { actionDecider } from '../../src/domain/actions/action.decider.js';
import { defaultRiskPolicy } from '../../src/domain/actions/risk-policy.js';
import { agentRunDecider } from '../../src/domain/agents/agent-run.decider.js';
import { agentDecider } from '../../src/domain/agents/agent.decider.js';
import { agentRunStreamId, agentStreamId } from '../../src/domain/agents/agent.events.js';
import { workerStreamId } from '../../src/domain/workers/worker.events.js';
import { jobId } from '../../src/workers/jobs.js';
import { closeQueues, jobOptions, openQueues, type WorkerHost } from '../../src/workers/worker-host.js';
import { settleRunCost } from '../../src/commands/agents/settle-run-cost.js';
import { payloadOf } from '../support/action-payloads.js';
import { commandsOver, createKeys } from '../support/api-calls.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { eventually, patient } from '../support/async.js';
import { REDIS_URL, dropTestPrefixes, eventsOf, startTestWorkers, testPrefix, typesOf } from '../support/workers.js';
import { createRedis } from '../../src/platform/redis.js';
import { silentLogger } from '../../src/platform/logger.js';
import { RELAY_NAME, readRelayCheckpoint, runRelay } from '../../src/workers/relay.js';

describe('workers: relay and processors', function () {
  this.timeout(patient(60_000));
  let harness: TestApp;
  let host: WorkerHost | undefined;
  let keys: Record<string, string>;
  const context = () => ({ knex: harness.knex, store: harness.store, databaseUrl: harness.db.url, prefix: testPrefix() });
  const metadata = (id = 'ops') => ({ actor: { kind: 'user' as const, id }, now: new Date().toISOString(), correlationId: 'c', causationId: 'r' });

  before(async () => {
    // The API knows the kinds the workers' HTTP executors take (as ACTION_HTTP_EXECUTORS on both would).
    harness = await startTestApp({ http: { actionKinds: actionKinds({ httpExecutors: ['send_email', 'send_fax'] }) } });
    keys = await createKeys(harness.knex, { ops: 'operator', ana: 'approver' });
  });
  afterEach(async () => {
    await host?.stop();
    host = undefined;
  });
  after(async () => {
    await harness.close();
    await dropTestPrefixes();
  });

  const post = (path: string, body: object, who = 'ops') => commandsOver(() => harness.app, keys)(path, body, who);
  const deal = async () => (await post('/api/deals', { name: 'Acme buyout', company: 'Acme', amount: { amount: '250000.00', currency: 'USD' } }))!;
  const propose = async (dealId: string, kind: string, payload: object = {}) => (await post('/api/actions', { dealId, kind, title: `Do ${kind}`, payload }))!;
  const actionEvents = async (actionId: string) => typesOf(await eventsOf(harness.store, `action-${actionId}`));

  it('executes an approved action end to end, once: the note it asks for, one executed event', async () => {
    host = await startTestWorkers(context());
    const dealId = await deal();
    const actionId = await propose(dealId, 'add_note', { text: 'Sent the NDA' }); // low risk: approved by policy
    await eventually(async () => (await actionEvents(actionId)).includes('ActionExecuted'), 10_000, 'the action executed');
    expect(await actionEvents(actionId)).to.deep.equal(['ActionProposed', 'ActionRiskAssessed', 'ActionApproved', 'ActionExecutionStarted', 'ActionExecuted']);
    const notes = (await eventsOf(harness.store, `deal-${dealId}`)).filter((event) => event.type === 'DealNoteAdded');
    expect(notes.map((event) => event.data.text)).to.deep.equal(['Sent the NDA']);
    expect(notes[0]!.metadata.actor).to.deep.equal({ kind: 'worker', id: host.workerId });
    const started = await eventsOf(harness.store, workerStreamId(host.workerId));
    expect(typesOf(started)).to.deep.equal(['WorkerStarted']);
  });

  it('makes one job of an event the relay delivers twice (it read it again from an older checkpoint)', async () => {
    const prefix = testPrefix();
    const producer = createRedis(REDIS_URL, 'producer');
    const queues = openQueues(producer, prefix);
    const relayOnce = async (until: () => Promise<boolean>) => {
      const stop = new AbortController();
      const relaying = runRelay({ knex: harness.knex, eventStore: harness.store, logger: silentLogger(), databaseUrl: harness.db.url, queues, jobOptions: jobOptions(3, 50), agentRunIdleMs: 60_000 }, stop.signal);
      await eventually(until, 10_000, 'the relay');
      stop.abort();
      await relaying;
    };
    try {
      const actionId = await propose(await deal(), 'add_note', { text: 'Twice' });
      const approved = (await eventsOf(harness.store, `action-${actionId}`)).find((event) => event.type === 'ActionApproved')!;
      const job = jobId('execute-action', approved.id);
      await relayOnce(async () => (await queues.actions.getJob(job)) !== undefined);
      // Back to the beginning of the log: every event is delivered again.
      await harness.knex('relay_checkpoints').delete();
      await relayOnce(async () => ((await readRelayCheckpoint(harness.knex, RELAY_NAME)) ?? '') >= approved.position);
      const waiting = await queues.actions.getWaiting();
      expect(waiting.filter((queued) => queued.data.actionId === actionId).map((queued) => queued.id)).to.deep.equal([job]);
    } finally {
      await closeQueues(queues, producer);
    }
  });

  it('executes an action approved by people, and leaves a rejected one alone', async () => {
    host = await startTestWorkers(context());
    const dealId = await deal();
    const approved = await propose(dealId, 'assign_owner', { ownerId: 'bo' }); // medium risk: one approver
    const rejected = await propose(dealId, 'change_stage', { to: 'diligence' });
    await post(`/api/actions/${approved}/approve`, {}, 'ana');
    await post(`/api/actions/${rejected}/reject`, { reason: 'Too early' }, 'ana');
    await eventually(async () => (await actionEvents(approved)).includes('ActionExecuted'), 10_000, 'the approved action executed');
    expect(typesOf(await eventsOf(harness.store, `deal-${dealId}`))).to.include('DealOwnerAssigned').and.not.include('DealStageChanged');
    expect(await actionEvents(rejected)).to.not.include('ActionExecutionStarted');
  });

  it('calls the http executor signed the Standard Webhooks way, retries a failing endpoint, and dead-letters the job with its event', async () => {
    const secret = `whsec_${Buffer.from('a secret of thirty-two bytes!!!!').toString('base64')}`;
    const calls: { headers: Record<string, string>; body: string }[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        calls.push({ headers: req.headers as Record<string, string>, body });
        res.writeHead(503).end('busy');
      });
    });
    server.listen(0);
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/execute`;
    try {
      host = await startTestWorkers(context(), { attempts: 3, settings: { agentRunIdleMs: 60_000, http: { executors: { send_email: url }, secret, timeoutMs: 2000 } } });
      const actionId = await propose(await deal(), 'send_email', payloadOf('send_email'));
      await post(`/api/actions/${actionId}/approve`, {}, 'ana');
      await eventually(async () => (await actionEvents(actionId)).includes('ActionExecutionFailed') && (await actionEvents(actionId)).at(-1) === 'ActionExecutionFailed' && calls.length === 3, 10_000, 'three attempts');
      const failures = (await eventsOf(harness.store, `action-${actionId}`)).filter((event) => event.type === 'ActionExecutionFailed');
      expect(failures.map((event) => [event.data.attempt, event.data.final])).to.deep.equal([[1, false], [2, false], [3, true]]);
      // Every call verifies with an independent implementation of the convention.
      for (const call of calls) {
        expect(new Webhook(secret).verify(call.body, call.headers)).to.deep.include({ actionId, kind: 'send_email' });
        expect(call.headers['idempotency-key']).to.equal(actionId);
      }
      await eventually(async () => typesOf(await eventsOf(harness.store, workerStreamId(host!.workerId))).includes('JobDeadLettered'), 5000, 'the dead letter');
      const deadLetter = (await eventsOf(harness.store, workerStreamId(host.workerId))).find((event) => event.type === 'JobDeadLettered')!;
      expect(deadLetter.data).to.deep.include({ queue: 'actions', jobName: 'execute-action', attempts: 3, error: `${url} answered 503: busy` });
      expect(deadLetter.data.data).to.deep.include({ actionId });
      // The dead letter is recorded just before BullMQ moves the job to the failed set.
      await eventually(async () => (await host!.queues.actions.getFailedCount()) === 1, 5000, 'the failed job');
      const failed = await host.queues.actions.getFailed();
      expect(failed.map((job) => job.id)).to.deep.equal([deadLetter.data.jobId]);
    } finally {
      server.close();
    }
  });

  it("records an answer the log could not keep as JSON (nested 5,000 deep, NUL escapes) as clipped text: executed once, not sent again", async () => {
    const answers = ['['.repeat(5000) + ']'.repeat(5000), '{"note":"a\\u0000b"}'];
    let calls = 0;
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(answers[calls++ % 2]));
    });
    server.listen(0);
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/send`;
      host = await startTestWorkers(context(), { attempts: 3, settings: { http: { executors: { send_email: url }, secret: '', timeoutMs: 2000 } } });
      for (const answer of answers) {
        const actionId = await propose(await deal(), 'send_email', payloadOf('send_email'));
        await post(`/api/actions/${actionId}/approve`, {}, 'ana');
        await eventually(async () => (await actionEvents(actionId)).at(-1) === 'ActionExecuted', 10_000, 'executed');
        const executed = (await eventsOf(harness.store, `action-${actionId}`)).find((event) => event.type === 'ActionExecuted')!;
        expect(executed.data.result).to.deep.equal({ status: 200, body: answer.slice(0, 10_000) });
      }
      expect(calls, 'each action sent once').to.equal(2);
    } finally {
      server.close();
    }
  });

  it('calls the http executor through the outbound guard: an address it refuses, or a redirect, fails the action for good at once', async () => {
    const server: Server = createServer((_req, res) => res.writeHead(302, { location: 'http://127.0.0.1:6379/' }).end());
    server.listen(0);
    await once(server, 'listening');
    const redirecting = `http://127.0.0.1:${(server.address() as { port: number }).port}/moved`;
    try {
      host = await startTestWorkers(context(), { attempts: 3, settings: { http: { executors: { send_email: 'http://10.1.2.3/send', send_fax: redirecting }, secret: '', timeoutMs: 2000 } } });
      for (const [kind, error] of [['send_email', 'http://10.1.2.3/send: refused by the outbound guard: the host is a private address'], ['send_fax', `${redirecting} answered 302: `]]) {
        const actionId = await propose(await deal(), kind!, kind === 'send_email' ? payloadOf('send_email') : { number: '+1 555 0100' });
        await post(`/api/actions/${actionId}/approve`, {}, 'ana');
        await eventually(async () => (await actionEvents(actionId)).at(-1) === 'ActionExecutionFailed', 10_000, `${kind} failed`);
        const failures = (await eventsOf(harness.store, `action-${actionId}`)).filter((event) => event.type === 'ActionExecutionFailed');
        expect(failures.map((event) => [event.data.attempt, event.data.final, event.data.error])).to.deep.equal([[1, true, error]]);
      }
    } finally {
      server.close();
    }
  });

  it('executes a failed action again when an operator retries it; every attempt stays in its history', async () => {
    let status = 400;
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{"sent":true}' : '{"error":"bad address"}'));
    });
    server.listen(0);
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/send`;
      host = await startTestWorkers(context(), { attempts: 3, settings: { http: { executors: { send_email: url }, secret: '', timeoutMs: 2000 } } });
      const actionId = await propose(await deal(), 'send_email', payloadOf('send_email'));
      await post(`/api/actions/${actionId}/approve`, {}, 'ana');
      await eventually(async () => (await actionEvents(actionId)).at(-1) === 'ActionExecutionFailed', 10_000, 'a final failure (400)');
      status = 200;
      await post(`/api/actions/${actionId}/retry`, { reason: 'address fixed' }, 'ops');
      await eventually(async () => (await actionEvents(actionId)).at(-1) === 'ActionExecuted', 10_000, 'executed on the retry');
      const events = await eventsOf(harness.store, `action-${actionId}`);
      expect(events.filter((event) => event.type.startsWith('ActionExecution')).map((event) => [event.type, event.data.attempt ?? null])).to.deep.equal([
        ['ActionExecutionStarted', 1],
        ['ActionExecutionFailed', 1],
        ['ActionExecutionRetried', null],
        ['ActionExecutionStarted', 2],
      ]);
      expect(events.find((event) => event.type === 'ActionExecutionRetried')!.data).to.deep.equal({ actionId, retriedBy: 'ops', reason: 'address fixed' });
    } finally {
      server.close();
    }
  });

  it('stops gracefully: finishes a job in hand within the deadline, gives back one that outlasts it, and another worker finishes that', async () => {
    let delayMs = 300;
    const server: Server = createServer((req, res) => {
      req.resume();
      setTimeout(() => res.writeHead(200).end('{}'), delayMs);
    });
    server.listen(0);
    await once(server, 'listening');
    const http = { executors: { send_email: `http://127.0.0.1:${(server.address() as { port: number }).port}/send` }, secret: '', timeoutMs: 5000 };
    const inHand = async (worker: WorkerHost) => eventually(async () => (await worker.queues.actions.getActiveCount()) === 1, 10_000, 'a job in hand');
    const send = async () => {
      const actionId = await propose(await deal(), 'send_email', payloadOf('send_email'));
      await post(`/api/actions/${actionId}/approve`, {}, 'ana');
      return actionId;
    };
    try {
      // Within the deadline: the stop waits for the job, which ends executed.
      host = await startTestWorkers(context(), { shutdownMs: 5000, settings: { agentRunIdleMs: 60_000, http } });
      const quick = await send();
      await inHand(host);
      await host.stop();
      host = undefined;
      expect((await actionEvents(quick)).at(-1)).to.equal('ActionExecuted');

      // Past the deadline: the job goes back to the queue, no attempt spent, and the next worker runs it.
      delayMs = 30_000;
      const prefix = testPrefix();
      const first = await startTestWorkers({ ...context(), prefix }, { shutdownMs: 200, settings: { agentRunIdleMs: 60_000, http: { ...http, timeoutMs: 60_000 } } });
      const slow = await send();
      await inHand(first);
      const stopping = performance.now();
      await first.stop();
      expect(performance.now() - stopping, 'the stop did not wait for the job').to.be.below(delayMs);
      expect(await actionEvents(slow)).to.not.include('ActionExecuted');
      delayMs = 50;
      host = await startTestWorkers({ ...context(), prefix }, { settings: { agentRunIdleMs: 60_000, http } });
      await eventually(async () => (await actionEvents(slow)).at(-1) === 'ActionExecuted', 10_000, 'the job finished by the next worker');
      const events = await eventsOf(harness.store, `action-${slow}`);
      expect(events.filter((event) => event.type === 'ActionExecutionStarted').map((event) => event.data.attempt)).to.deep.equal([1]);
      expect(typesOf(await eventsOf(harness.store, workerStreamId(first.workerId)))).to.deep.equal(['WorkerStarted', 'WorkerStopped']);
    } finally {
      server.close();
    }
  });

  it('leaves an approved action of a manual kind to a person: no attempt, no failure, until the outcome is recorded', async () => {
    host = await startTestWorkers(context());
    const dealId = await deal();
    const manual = await propose(dealId, 'share_data_room', payloadOf('share_data_room')); // high risk; nothing executes it
    await post(`/api/actions/${manual}/approve`, {}, 'ana');
    const approved = (await eventsOf(harness.store, `action-${manual}`)).find((event) => event.type === 'ActionApproved')!;
    const job = jobId('execute-action', approved.id);
    await eventually(async () => (await (await host!.queues.actions.getJob(job))?.getState()) === 'completed', 10_000, 'the job, done without executing');
    expect((await host.queues.actions.getJob(job))!.returnvalue).to.deep.equal({ skipped: 'a person carries out share_data_room actions and records the outcome' });
    expect(await actionEvents(manual)).to.deep.equal(['ActionProposed', 'ActionRiskAssessed', 'ActionApprovalRequested', 'ActionApprovalGiven', 'ActionApproved']);
    await post(`/api/actions/${manual}/outcome`, { outcome: 'executed', result: { shared: true } }, 'ops');
    expect((await actionEvents(manual)).slice(-2)).to.deep.equal(['ActionExecutionStarted', 'ActionExecuted']);
  });

  it('dead-letters an action of a kind nothing executes (proposed before its kind left the registry) at once, without retries', async () => {
    host = await startTestWorkers(context());
    const dealId = await deal();
    const actionId = crypto.randomUUID();
    // Proposed where an HTTP executor took wire_transfer; these workers have none.
    const then = actionDecider({ kinds: actionKinds({ httpExecutors: ['wire_transfer'] }) });
    await handleCommand(harness.store, `action-${actionId}`, then, {
      type: 'ProposeAction',
      data: { actionId, dealId, kind: 'wire_transfer', title: 'Wire', payload: { iban: 'DE00' }, deal: (await loadStream(harness.store, `deal-${dealId}`, dealDecider)).state },
      metadata: metadata('scout'),
    });
    await post(`/api/actions/${actionId}/approve`, {}, 'ana');
    await eventually(async () => (await actionEvents(actionId)).at(-1) === 'ActionExecutionFailed', 10_000, 'the failure');
    const [failure] = (await eventsOf(harness.store, `action-${actionId}`)).filter((event) => event.type === 'ActionExecutionFailed');
    expect(failure!.data).to.deep.include({ attempt: 1, final: true, error: 'no executor for actions of kind wire_transfer' });
  });

  it('expires a pending approval at its deadline, and does nothing for one decided before', async () => {
    host = await startTestWorkers(context());
    const dealId = await deal();
    // A policy whose approvals wait one second, through the domain directly.
    const quick = actionDecider({ policy: { ...defaultRiskPolicy, approvalTtlMinutes: { ...defaultRiskPolicy.approvalTtlMinutes, medium: 1 / 60 } } });
    const propose = async (actionId: string) =>
      handleCommand(harness.store, `action-${actionId}`, quick, {
        type: 'ProposeAction',
        data: { actionId, dealId, kind: 'assign_owner', title: 'Assign', payload: { ownerId: 'bo' }, deal: (await loadStream(harness.store, `deal-${dealId}`, dealDecider)).state },
        metadata: metadata(),
      });
    const [pending, decided] = [crypto.randomUUID(), crypto.randomUUID()];
    await propose(pending);
    await propose(decided);
    await handleCommand(harness.store, `action-${decided}`, quick, { type: 'RejectAction', data: { reason: 'No' }, metadata: metadata('ana') });
    await eventually(async () => (await actionEvents(pending)).includes('ActionExpired'), 10_000, 'the expiry');
    await eventually(async () => (await host!.queues.approvals.getCompletedCount()) === 2, 5000, 'both expiry jobs done');
    expect(await actionEvents(decided)).to.not.include('ActionExpired');
  });

  it('fails an agent run silent for too long, and spares one that keeps working', async () => {
    host = await startTestWorkers(context(), { settings: { agentRunIdleMs: 1000, http: { executors: {}, secret: '', timeoutMs: 2000 } } });
    const agentId = crypto.randomUUID();
    await handleCommand(harness.store, agentStreamId(agentId), agentDecider, { type: 'RegisterAgent', data: { agentId, name: 'Scout', model: 'm', capabilities: [] }, metadata: metadata() });
    const agent = (await loadStream(harness.store, agentStreamId(agentId), agentDecider)).state;
    const start = (runId: string) =>
      handleCommand(harness.store, agentRunStreamId(agentId, runId), agentRunDecider, { type: 'StartAgentRun', data: { agentId, runId, goal: 'Research', agent }, metadata: metadata() });
    const [silent, busy] = [crypto.randomUUID(), crypto.randomUUID()];
    await start(silent);
    await start(busy);
    const call = (n: number) =>
      handleCommand(harness.store, agentRunStreamId(agentId, busy), agentRunDecider, {
        type: 'RecordAgentToolCall', data: { toolCallId: `t${n}`, tool: 'search', input: {} }, metadata: metadata(),
      });
    for (let n = 0; n < 3; n++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await call(n);
    }
    await eventually(async () => typesOf(await eventsOf(harness.store, agentRunStreamId(agentId, silent))).includes('AgentRunFailed'), 10_000, 'the silent run failed');
    const failed = (await eventsOf(harness.store, agentRunStreamId(agentId, silent))).at(-1)!;
    expect(String(failed.data.error)).to.match(/^timed out: no activity for 1 s/);
    expect(typesOf(await eventsOf(harness.store, agentRunStreamId(agentId, busy)))).to.not.include('AgentRunFailed');
  });

  it("settles a finished run's cost the API never settled, once", async () => {
    host = await startTestWorkers(context());
    const agentId = crypto.randomUUID();
    const runId = crypto.randomUUID();
    await handleCommand(harness.store, agentStreamId(agentId), agentDecider, {
      type: 'RegisterAgent', data: { agentId, name: 'Scout', model: 'm', capabilities: [], budget: { amount: '10.00', currency: 'USD' } }, metadata: metadata(),
    });
    const agent = (await loadStream(harness.store, agentStreamId(agentId), agentDecider)).state;
    const run = agentRunStreamId(agentId, runId);
    await handleCommand(harness.store, run, agentRunDecider, { type: 'StartAgentRun', data: { agentId, runId, goal: 'Research', agent }, metadata: metadata() });
    // Completed as the API records it, but the process died before it settled the cost.
    const completed = await handleCommand(harness.store, run, agentRunDecider, {
      type: 'CompleteAgentRun', data: { summary: 'done', tokens: { input: 1, output: 1 }, cost: { amount: '0.42', currency: 'USD' } }, metadata: metadata(),
    });
    const job = jobId('settle-run-cost', completed.events[0]!.id);
    await eventually(async () => (await (await host!.queues['agent-runs'].getJob(job))?.getState()) === 'completed', 10_000, 'the settling job');
    // The API settling it after all (a retried request) adds nothing either.
    await settleRunCost(harness.store, completed.events[0]!, metadata());
    const spends = (await eventsOf(harness.store, agentStreamId(agentId))).filter((event) => event.type === 'AgentSpendRecorded');
    expect(spends.map((event) => event.data.spent)).to.deep.equal([{ amount: '0.42', currency: 'USD' }]);
  });
});
