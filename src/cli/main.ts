import { Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../platform/config.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { ROLES, type Role, type RoleName } from './roles.js';
import { migrate, openServices } from './services.js';

const SHUTDOWN_DEADLINE_MS = 15_000;

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

for (const role of Object.keys(ROLES) as RoleName[]) {
  program
    .command(role)
    .description(`run the ${role} role (migrates first)`)
    .action(() => withConfig((config, logger) => run([role], config, logger)));
}

program
  .command('all')
  .description('run every role in one process (migrates first)')
  .action(() => withConfig((config, logger) => run(Object.keys(ROLES) as RoleName[], config, logger)));

/** Starts the roles and keeps them until SIGTERM or SIGINT, then stops them within a deadline. */
async function run(names: RoleName[], config: Config, logger: Logger): Promise<void> {
  const services = await openServices(config, logger);
  const roles: Role[] = [];
  for (const name of names) roles.push(await ROLES[name](services));

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info('shutting down', { signal });
      setTimeout(() => {
        logger.error('shutdown deadline passed; exiting', { deadlineMs: SHUTDOWN_DEADLINE_MS });
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS).unref();
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
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
    if (error instanceof ConfigError) {
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
