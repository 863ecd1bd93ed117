import type { Response } from 'express';
import type { Logger } from '../platform/logger.js';
import { OutageLog } from '../platform/outage-log.js';
import type { Dependency } from '../platform/unreachable.js';
import { problemOf, type Problem, type ProblemCode } from './problem-catalog.js';

/** How each dependency is asked whether it is back (without one, the log never says it is). */
export type Probes = Partial<Record<Dependency, () => Promise<unknown>>>;

const CODES: Record<Dependency, ProblemCode> = { postgres: 'DATABASE.UNAVAILABLE', eventstore: 'EVENT_STORE.UNAVAILABLE' };

const NAMES: Record<Dependency, string> = { postgres: 'postgres', eventstore: 'event store' };

/**
 * Requests refused while a dependency is away: each is answered 503 with Retry-After, and the
 * outage goes to the log once per interval (how many were refused meanwhile), not once per request.
 */
export class Outages {
  private readonly logs: Record<Dependency, OutageLog>;

  constructor(logger: Logger, probes: Probes = {}, signal?: AbortSignal) {
    const log = (dependency: Dependency) => {
      const probe = probes[dependency];
      return new OutageLog(logger, {
        down: `${NAMES[dependency]} unreachable; answering 503 until it is back`,
        back: `${NAMES[dependency]} is back`,
        counting: 'refused',
        ...(probe ? { probe } : {}),
        ...(signal ? { signal } : {}),
      });
    };
    this.logs = { postgres: log('postgres'), eventstore: log('eventstore') };
  }

  /** The 503 to answer (problem.ts sends it; imported from there, not the other way round). */
  refuse(dependency: Dependency, error: unknown, res: Response): Problem {
    this.logs[dependency].failed(error);
    // Clients told the same second would all come back at once, onto the streams they all wanted.
    res.set('Retry-After', String(2 + Math.floor(Math.random() * 4)));
    // Whether a refused command was stored is unknown when the connection broke during its append.
    return problemOf(CODES[dependency], 'A service this request needs cannot be reached; try again after Retry-After seconds (a command with the same Idempotency-Key, so that it is stored once)');
  }
}
