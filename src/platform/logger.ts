import winston from 'winston';

/**
 * JSON logs on stderr, so stdout stays free for what CLI commands print (scripts capture it).
 * Stacks go here, never to HTTP clients.
 */
export function createLogger(level = 'info', defaultMeta: Record<string, unknown> = {}): winston.Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service: 'dealstream', ...defaultMeta },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: Object.keys(winston.config.npm.levels) })],
  });
}

export type Logger = winston.Logger;

/** A logger that drops everything, for tests and benchmarks. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
