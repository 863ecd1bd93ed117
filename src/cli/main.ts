import { Command, Option } from 'commander';
import { reencryptSigningKeys } from '../auth/tokens/signing-keys.js';
import { reencryptSecrets } from '../integrations/webhooks/webhook-subscriptions.js';
import { openSecretBox } from '../platform/secret-box.js';
import { exportWithProgress, verifyWithProgress } from '../audit/audit-cli.js';
import { ExportQuery } from '../audit/log-selection.js';
import type { Knex } from 'knex';
import type { z } from 'zod';
import { PRINCIPAL_KINDS, ROLES, type PrincipalKind, type Role } from '../auth/principal.js';
import { KeyNotFoundError, cliMetadata, createPrincipalWithKey, listKeys, revokeKeyByIdOrName } from '../principals/principal-cli.js';
import { changeRoles, createPrincipal, disablePrincipal, enablePrincipal, issueApiKey } from '../principals/principal-lifecycle.js';
import { CreatePrincipalBody, IssueKeyBody, PrincipalId } from '../principals/principal.routes.js';
import { ConfigError, loadConfig, type Config } from '../platform/config.js';
import { createLogger, type Logger } from '../platform/logger.js';
import type { Queue } from 'bullmq';
import { createRedis, whenReady } from '../platform/redis.js';
import { QUEUES, type QueueName } from '../workers/jobs.js';
import { closeQueues, openQueues } from '../workers/worker-host.js';
import { replayDeadLetters, workersStatus } from '../workers/worker-status.js';
import { PROCESS_ROLES, type ProcessRole, type RunningRole } from './roles.js';
import { PROJECTIONS } from '../projections/index.js';
import { projectionStatus } from '../projections/runtime/status.js';
import { rebuildWithProgress } from './rebuild-progress.js';
import { TokenRequestError } from '../auth/tokens/issue-token.js';
import { issueTokenFromCli, rotateKeyFromCli, type IssueTokenOptions } from '../auth/tokens/token-cli.js';
import { migrate, openServices, type Services } from './services.js';

const SHUTDOWN_DEADLINE_MS = 15_000;

/** A command used wrongly: one line on stderr, exit code 2. */
class UsageError extends Error {}

const program = new Command()
  .name('dealstream')
  .description('Event-sourced backend for deal-lifecycle work: AI agents propose, humans approve.')
  .showHelpAfterError();

program
  .command('migrate')
  .description('create the database if needed and apply pending migrations')
  .action(() =>
    withConfig(async (config, logger) => {
      const knex = await migrate(config, logger);
      await knex.destroy();
    }),
  );

for (const role of Object.keys(PROCESS_ROLES) as ProcessRole[]) {
  program
    .command(role)
    .description(`run the ${role} role (migrates first)`)
    .action(() => withConfig((config, logger) => run([role], config, logger)));
}

program
  .command('all')
  .description('run every role in one process (migrates first)')
  .action(() => withConfig((config, logger) => run(Object.keys(PROCESS_ROLES) as ProcessRole[], config, logger)));

const projections = program.command('projections').description('read models: status and rebuild');

projections
  .command('status')
  .description('checkpoint, lag and state of every projection')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    withServices(async (services) => {
      const statuses = await projectionStatus(services.knex, services.eventStore, PROJECTIONS);
      if (options.json) return void process.stdout.write(JSON.stringify(statuses, null, 2) + '\n');
      const lines = statuses.map((s) => [
        s.name, s.state, `v${s.version ?? '-'}${s.version !== s.codeVersion ? ` (code v${s.codeVersion})` : ''}`, s.checkpoint ?? '-',
        `${s.lag.atLeast ? '>=' : ''}${s.lag.events}`, s.lag.seconds.toFixed(1), String(s.eventsApplied),
      ]);
      process.stdout.write([['projection', 'state', 'version', 'checkpoint', 'lag events', 'lag s', 'applied'], ...lines].map((line) => line.join('\t')).join('\n') + '\n');
    }),
  );

projections
  .command('rebuild')
  .description('replay history into fresh tables and swap them in when caught up; queries read the old ones meanwhile')
  .argument('[names...]', 'projections to rebuild (default: all)')
  .action((names: string[]) =>
    withServices(async (services) => {
      const unknown = names.filter((name) => !PROJECTIONS.some((projection) => projection.name === name));
      if (unknown.length) throw new UsageError(`unknown projection ${unknown.join(', ')}; known: ${PROJECTIONS.map((p) => p.name).join(', ')}`);
      await rebuildWithProgress(PROJECTIONS.filter((p) => names.length === 0 || names.includes(p.name)), services);
    }),
  );

const workers = program.command('workers').description('job queues: status and dead letters');

workers
  .command('status')
  .description('depth, retries and dead letters of every queue, and where the relay stands')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    withQueues(async (knex, queues) => {
      const status = await workersStatus(knex, queues);
      if (options.json) return void process.stdout.write(JSON.stringify(status, null, 2) + '\n');
      const header = ['queue', 'waiting', 'active', 'delayed', 'retrying', 'dead-lettered', 'completed', 'workers'];
      const lines = status.queues.map((q) => [q.name, q.waiting, q.active, q.delayed, q.retrying, q.deadLettered, q.completed, q.workers].map(String));
      process.stdout.write([header, ...lines].map((line) => line.join('\t')).join('\n') + '\n');
      process.stdout.write(`relay ${status.relay.name}: ${status.relay.running ? 'running' : 'not running'}, checkpoint ${status.relay.checkpoint ?? '-'}\n`);
    }),
  );

workers
  .command('replay')
  .description('put dead-lettered jobs back in their queues with all their attempts (an action that failed for good is executed again)')
  .addOption(new Option('--queue <name...>', 'only these queues').choices([...QUEUES]))
  .action((options: { queue?: QueueName[] }) =>
    withQueues(async (_knex, queues) => {
      const replayed = await replayDeadLetters(queues, options.queue);
      for (const job of replayed) process.stdout.write(`${job.queue}\t${job.name}\t${job.jobId}\n`);
      process.stderr.write(`dealstream: replayed ${replayed.length} dead-lettered job${replayed.length === 1 ? '' : 's'}\n`);
    }),
  );

const principals = program.command('principals').description('who acts: people, agents, integrations; their roles (every change is an event)');

principals
  .command('create')
  .description('create a principal and print its id on stdout')
  .addOption(new Option('--kind <kind>', 'what it is').choices(PRINCIPAL_KINDS).makeOptionMandatory())
  .requiredOption('--name <name>', 'a name people recognise')
  .addOption(new Option('--role <role...>', 'what it may do').choices(ROLES).makeOptionMandatory())
  .option('--id <id>', 'a readable id (default: a new UUID); events name it as the actor')
  .option('--agent <agentId>', 'for an agent principal: the agent it acts for (its runs)')
  .action((options: { kind: PrincipalKind; name: string; role: Role[]; id?: string; agent?: string }) =>
    withServices(async ({ knex, eventStore }) => {
      const body = parseOrUsage(CreatePrincipalBody, { kind: options.kind, name: options.name, roles: options.role, id: options.id, agentId: options.agent });
      const created = await createPrincipal({ knex, eventStore }, body, cliMetadata());
      process.stdout.write(created.principalId + '\n');
    }),
  );

principals
  .command('list')
  .description('list principals')
  .action(() =>
    withKnex(async (knex) => {
      const rows = await knex('principals').orderBy('id').select('id', 'kind', 'name', 'roles', 'agent_id', 'disabled_at');
      const lines = rows.map((p) => [p.id, p.kind, p.name, p.roles.join(','), p.agent_id ?? '', p.disabled_at ? 'disabled' : 'active']);
      printTable(['id', 'kind', 'name', 'roles', 'agent', 'status'], lines);
    }),
  );

principals
  .command('roles')
  .description("replace a principal's roles")
  .argument('<id>')
  .addOption(new Option('--role <role...>', 'its roles from now on').choices(ROLES).makeOptionMandatory())
  .action((id: string, options: { role: Role[] }) => withServices(({ knex, eventStore }) => changeRoles({ knex, eventStore }, id, options.role, cliMetadata()).then(() => undefined)));

principals
  .command('disable')
  .description('disable a principal: all its credentials are refused from the next request on')
  .argument('<id>')
  .option('--reason <reason>', 'why, for the record')
  .action((id: string, options: { reason?: string }) => withServices(({ knex, eventStore }) => disablePrincipal({ knex, eventStore }, id, options.reason, cliMetadata()).then(() => undefined)));

principals
  .command('enable')
  .description('enable a disabled principal')
  .argument('<id>')
  .action((id: string) => withServices(({ knex, eventStore }) => enablePrincipal({ knex, eventStore }, id, cliMetadata()).then(() => undefined)));

const keys = program.command('keys').description("API keys: a principal's credentials (shown once, stored only as hashes)");

keys
  .command('create')
  .description('create a principal with one key, and print the key alone on stdout (shown once); how a fresh install gets its first admin')
  .requiredOption('--name <name>', 'who or what uses the key')
  .addOption(new Option('--role <role>', 'what the key may do').choices(ROLES).makeOptionMandatory())
  .action((options: { name: string; role: Role }) =>
    withServices(async ({ knex, eventStore }) => {
      const { key } = await createPrincipalWithKey({ knex, eventStore }, options.name, options.role);
      process.stdout.write(key + '\n');
    }),
  );

keys
  .command('issue')
  .description("issue another key to a principal (rotation: the actor stays the same) and print it alone on stdout")
  .requiredOption('--principal <id>', 'whose key')
  .requiredOption('--name <name>', "the key's own name")
  .option('--expires-at <instant>', 'ISO 8601; default: never')
  .action((options: { principal: string; name: string; expiresAt?: string }) =>
    withServices(async ({ knex, eventStore }) => {
      const body = parseOrUsage(IssueKeyBody, { name: options.name, expiresAt: options.expiresAt ?? null });
      const issued = await issueApiKey({ knex, eventStore }, options.principal, body, cliMetadata());
      process.stdout.write(issued.key + '\n');
    }),
  );

keys
  .command('list')
  .description('list keys (never their secrets)')
  .option('--principal <id>', "only this principal's")
  .action((options: { principal?: string }) =>
    withKnex(async (knex) => {
      const rows = await listKeys(knex, options.principal);
      const time = (value: Date | null) => value?.toISOString() ?? '';
      const status = (k: { revoked_at: Date | null; expires_at: Date | null }) =>
        k.revoked_at ? `revoked ${k.revoked_at.toISOString()}` : k.expires_at && k.expires_at <= new Date() ? 'expired' : 'active';
      printTable(
        ['id', 'name', 'principal', 'roles', 'created', 'expires', 'last used', 'status'],
        rows.map((k) => [k.id, k.name, k.principal_id, k.roles.join(','), time(k.created_at), time(k.expires_at), time(k.last_used_at), status(k)]),
      );
    }),
  );

keys
  .command('revoke')
  .description('revoke the active key with this id or name')
  .argument('<id-or-name>')
  .option('--principal <id>', "a name among this principal's keys")
  .action((idOrName: string, options: { principal?: string }) =>
    withServices(async ({ knex, eventStore }) => {
      await revokeKeyByIdOrName({ knex, eventStore }, idOrName, options.principal).catch((error: unknown) => {
        throw error instanceof KeyNotFoundError ? new UsageError(error.message) : error;
      });
      process.stderr.write(`dealstream: revoked ${idOrName}\n`);
    }),
  );

function printTable(header: string[], lines: string[][]): void {
  process.stdout.write([header, ...lines].map((line) => line.join('\t')).join('\n') + '\n');
}

/** Options checked with the HTTP API's schemas: a bad one is a usage error naming it. */
function parseOrUsage<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new UsageError(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'options'}: ${issue.message}`).join('; '));
}

const tokens = program.command('tokens').description("people's tokens (JWT) signed by dealstream itself; its public keys are at /.well-known/jwks.json");

tokens
  .command('issue')
  .description('sign a token for a person and print it alone on stdout (the subject is their principal id)')
  .requiredOption('--sub <sub>', "whom the token names: a principal's id (a new one is created at first sign-in)")
  .addOption(new Option('--role <role...>', 'what the bearer may do').choices(ROLES).makeOptionMandatory())
  .option('--name <name>', 'a name people recognise')
  .option('--ttl <duration>', 'how long it lives: 90s, 15m, 8h, 30d (at most 30 days)', '1h')
  .action((options: IssueTokenOptions) =>
    withKnex(async (knex) => {
      // dealstream's own tokens name the principal by id, so the subject must be one.
      const sub = PrincipalId.safeParse(options.sub);
      if (!sub.success) throw new UsageError(`--sub: ${sub.error.issues[0]!.message}`);
      const token = await issueTokenFromCli(knex, loadConfig(), options).catch((error: unknown) => {
        throw error instanceof TokenRequestError ? new UsageError(error.message) : error;
      });
      process.stdout.write(token + '\n');
    }),
  );

tokens
  .command('rotate-key')
  .description('sign with a new key from now on; tokens signed by the old one keep verifying until they expire')
  .action(() =>
    withKnex(async (knex) => {
      const { kid, retired } = await rotateKeyFromCli(knex, loadConfig());
      process.stderr.write(`dealstream: signing with key ${kid}${retired.length ? `; retired ${retired.join(', ')}` : ''}\n`);
    }),
  );

program
  .command('secrets')
  .description('encryption at rest')
  .command('reencrypt')
  .description('after putting a new key first in SECRETS_KEY: re-encrypt every secret (webhook signing secrets, token signing keys) under it; then the old key can go')
  .action(() =>
    withKnex(async (knex) => {
      const box = await openSecretBox(loadConfig());
      const [webhooks, signingKeys] = [await reencryptSecrets(knex, box), await reencryptSigningKeys(knex, box)];
      process.stderr.write(`dealstream: re-encrypted under key ${box.currentKeyId}: ${webhooks} webhook secret(s), ${signingKeys} signing key(s)\n`);
    }),
  );

const audit = program.command('audit').description('what auditors need: history exports and hash-chain verification');

audit
  .command('export')
  .description('write events as NDJSON, one JSON event per line, to stdout or a file (a counter on stderr); filters combine')
  .option('--stream <id>', 'the events of one stream')
  .option('--category <list>', 'stream categories, comma-separated (deal, action, agent, worker)')
  .option('--type <list>', 'event types, comma-separated')
  .option('--deal <id>', "a deal's events: its own, its actions' and its agent runs'")
  .option('--from <position>', 'after this position (exclusive)')
  .option('--to <position>', 'up to this position (inclusive)')
  .option('--out <file>', 'write to this file instead of stdout')
  .action(({ out, deal, ...filters }: { out?: string } & Record<string, string | undefined>) =>
    withServices(async ({ eventStore }) => {
      // The flag keeps its short name; the HTTP parameter is dealId.
      const selection = ExportQuery.safeParse({ ...filters, ...(deal === undefined ? {} : { dealId: deal }) });
      const flag = (field: string) => (field === 'dealId' ? 'deal' : field);
      if (!selection.success) throw new UsageError(selection.error.issues.map((issue) => `--${flag(String(issue.path[0]))}: ${issue.message}`).join('; '));
      await exportWithProgress(eventStore, selection.data, out);
    }),
  );

audit
  .command('verify')
  .description("recompute every stream's hash chain in one read of the log; exit code 1 when one is broken")
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    withServices(async ({ eventStore }) => {
      if (!(await verifyWithProgress(eventStore, options.json ?? false))) process.exitCode = 1;
    }),
  );

/** Runs a command with the shared services (database migrated, event store open). */
function withServices(command: (services: Services) => Promise<void>): Promise<void> {
  return withConfig(async (config, logger) => {
    const services = await openServices(config, logger);
    try {
      await command(services);
    } finally {
      await services.close();
    }
  });
}

/** Runs a command with the database and the job queues. */
function withQueues(command: (knex: Knex, queues: Record<QueueName, Queue>) => Promise<void>): Promise<void> {
  return withConfig(async (config, logger) => {
    const knex = await migrate(config, logger);
    const redis = createRedis(config.REDIS_URL, 'producer', logger);
    const queues = openQueues(redis, config.QUEUE_PREFIX);
    try {
      await whenReady(redis, 5000).catch((error: Error) => {
        throw new UsageError(`cannot reach Redis at ${config.REDIS_URL}: ${error.message}`);
      });
      await command(knex, queues);
    } finally {
      await closeQueues(queues, redis);
      await knex.destroy();
    }
  });
}

/** Runs a command against a migrated database. */
function withKnex(command: (knex: Knex) => Promise<void>): Promise<void> {
  return withConfig(async (config, logger) => {
    const knex = await migrate(config, logger);
    try {
      await command(knex);
    } finally {
      await knex.destroy();
    }
  });
}

/**
 * Starts the roles and keeps them until SIGTERM or SIGINT, then stops them within a deadline. A
 * signal that comes while the roles start is heard, and acted on once they have started.
 */
async function run(names: ProcessRole[], config: Config, logger: Logger): Promise<void> {
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const services = await openServices(config, logger);
  const roles: RunningRole[] = [];
  for (const name of names) roles.push(await PROCESS_ROLES[name](services));

  logger.info('shutting down', { signal: await signalled });
  setTimeout(() => {
    logger.error('shutdown deadline passed; exiting', { deadlineMs: SHUTDOWN_DEADLINE_MS });
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS).unref();
  for (const role of roles.reverse()) await role.stop();
  await services.close();
  logger.info('stopped');
}

/** Loads the configuration (a bad setting stops here with one message) and runs the command. */
async function withConfig(command: (config: Config, logger: Logger) => Promise<void>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`dealstream: ${error.message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.LOG_LEVEL);
  try {
    await command(config, logger);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      process.stderr.write(`dealstream: ${error.message}\n`);
      process.exit(2);
    }
    logger.error('dealstream failed', { error: describe(error) });
    process.exit(1);
  }
}

/** Connection failures are the usual start-up error; say where and what to do. */
function describe(error: unknown): string {
  const { code, address, port, message } = error as { code?: string; address?: string; port?: number; message?: string };
  if (code === 'ECONNREFUSED') return `cannot connect to ${address}:${port} (${code}); is PostgreSQL running? Try: bash scripts/ensure-services.sh`;
  return message ?? String(error);
}

await program.parseAsync();
