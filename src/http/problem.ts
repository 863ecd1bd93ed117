import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { ContentionError, DomainError, ValidationError } from '../domain/shared/errors.js';
import { InvalidInputError } from '../eventstore/errors.js';
import type { Logger } from '../platform/logger.js';
import { unreachableDependency } from '../platform/unreachable.js';
import { Outages } from './outages.js';
import { describeCode, problemOf, type Problem, type ProblemCode, type ProblemExtensions } from './problem-catalog.js';

/** A problem to answer: a catalogued code (which fixes its title, status and type) and what happened this time. */
export class HttpProblem extends Error {
  readonly problem: Problem;

  constructor(code: ProblemCode, detail: string, extensions?: ProblemExtensions) {
    super(detail);
    this.problem = problemOf(code, detail, extensions);
  }
}

/** Answers a catalogued problem; see problemOf. */
export function sendProblem(res: Parameters<RequestHandler>[1], code: ProblemCode, detail: string, extensions?: ProblemExtensions): void {
  send(res, problemOf(code, detail, extensions));
}

function send(res: Parameters<RequestHandler>[1], problem: Problem): void {
  res.status(problem.status).type('application/problem+json').json(problem);
}

export const notFound: RequestHandler = (req, res) => sendProblem(res, 'ROUTE.NOT_FOUND', `No route for ${req.method} ${req.path}`);

/**
 * The one place errors become responses: known problems as they are, a dependency that cannot be
 * reached as 503 (see Outages), anything else as a generic 500.
 */
export function problemHandler(logger: Logger, outages = new Outages(logger)): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (error instanceof HttpProblem) return send(res, error.problem);
    if (error instanceof DomainError) {
      if (error instanceof ContentionError) res.set('Retry-After', '1'); // the same request may well pass then
      return send(res, domainProblem(error));
    }
    if (error instanceof ZodError) return send(res, invalidRequest(error));
    // The store's own checks (an event over EVENT_MAX_BYTES, say) are bad input too, never a 500.
    if (error instanceof InvalidInputError) {
      return sendProblem(res, 'REQUEST.INVALID', error.message, { errors: [{ field: error.field, message: error.reason }] });
    }
    // express.json() reports unreadable bodies with a status (and mostly a type), a body its
    // client cut short too: a socket error of the request's, not of a dependency.
    const status = (error as { status?: number }).status;
    if (status && status >= 400 && status < 500) return send(res, unreadableBody(error as BodyError, status));
    // An outage, not a fault: no stack, and the log hears of it once per interval (an append the
    // store gave up on after its own retries counts too: it may or may not have been stored).
    const unreachable = unreachableDependency(error);
    if (unreachable) return send(res, outages.refuse(unreachable, error, res));
    logger.error('request failed', { method: req.method, path: req.path, error: error instanceof Error ? { message: error.message, stack: error.stack } : error });
    sendProblem(res, 'INTERNAL_ERROR', 'The request failed; it has been logged.');
  };
}

/**
 * A rule of the domain refused: its code titles the problem, its message (which may name what it
 * saw: a stage, a revision) is the detail, and refused input names its field, as every other 400 does.
 */
export function domainProblem(error: DomainError): Problem {
  const validation = error instanceof ValidationError;
  return {
    ...describeCode(error.code),
    status: error.status,
    code: error.code,
    detail: validation ? error.errors.map((e) => `${e.field}: ${e.message}`).join('; ') : error.message,
    ...(validation ? { errors: error.errors } : {}),
  };
}

/** A 400 naming each invalid field, e.g. { field: "amount.currency", message: "must be an ISO 4217 code" }. */
export function invalidRequest(error: ZodError): Problem {
  // An unknown key is reported where it sits; name the key itself, one entry each.
  const errors = error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: [...issue.path, key].join('.'), message: 'is not a known field' }))
      : [{ field: issue.path.join('.'), message: issue.message }],
  );
  return problemOf('REQUEST.INVALID', errors.map((e) => `${e.field || '(body)'}: ${e.message}`).join('; '), { errors });
}

type BodyError = Error & { type?: string; code?: string };

/**
 * A body express.json() could not read, naming what to fix: the Content-Encoding it could not undo
 * (a decompression error has a zlib or brotli code and no type), the Content-Type's charset, or the
 * body itself (not JSON, too large). An encoding or charset it does not support is 415, the rest
 * (but too large, 413) 400.
 */
function unreadableBody(error: BodyError, status: number): Problem {
  const field =
    error.type === 'encoding.unsupported' || (!error.type && /^(Z_|ERR__)/.test(error.code ?? ''))
      ? 'Content-Encoding'
      : error.type === 'charset.unsupported'
        ? 'Content-Type'
        : '(body)';
  const code: ProblemCode = status === 413 ? 'REQUEST.TOO_LARGE' : status === 415 ? 'REQUEST.UNSUPPORTED_MEDIA_TYPE' : 'REQUEST.MALFORMED';
  const message = field === 'Content-Encoding' ? `the body could not be decoded: ${error.message}` : code === 'REQUEST.MALFORMED' ? `must be JSON: ${error.message}` : error.message;
  return problemOf(code, `${field}: ${message}`, { errors: [{ field, message }] });
}
