import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { ContentionError, DomainError, ValidationError } from '../domain/shared/errors.js';
import { InvalidInputError } from '../eventstore/errors.js';
import type { Logger } from '../platform/logger.js';
import { unreachableDependency } from '../platform/unreachable.js';
import { Outages } from './outages.js';

/** An RFC 9457 problem detail. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code?: string;
  [extension: string]: unknown;
}

export class HttpProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
}

export function sendProblem(res: Parameters<RequestHandler>[1], problem: Problem): void {
  res.status(problem.status).type('application/problem+json').json(problem);
}

export const notFound: RequestHandler = (req, res) =>
  sendProblem(res, { type: '/problems/not-found', title: 'Not found', status: 404, detail: `No route for ${req.method} ${req.path}` });

/**
 * The one place errors become responses: known problems as they are, a dependency that cannot be
 * reached as 503 (see Outages), anything else as a generic 500.
 */
export function problemHandler(logger: Logger, outages = new Outages(logger)): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (error instanceof HttpProblem) return sendProblem(res, error.problem);
    if (error instanceof DomainError) {
      if (error instanceof ContentionError) res.set('Retry-After', '1'); // the same request may well pass then
      return sendProblem(res, {
        type: `/problems/${error.code.toLowerCase().replace(/[._]/g, '-')}`,
        title: error.message,
        status: error.status,
        code: error.code,
        // Refused input names its field, as every other 400 does.
        ...(error instanceof ValidationError ? { detail: error.errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors: error.errors } : {}),
      });
    }
    if (error instanceof ZodError) return sendProblem(res, invalidRequest(error));
    // The store's own checks (an event over EVENT_MAX_BYTES, say) are bad input too, never a 500.
    if (error instanceof InvalidInputError) {
      return sendProblem(res, {
        type: '/problems/invalid-request',
        title: 'Invalid request',
        status: 400,
        detail: error.message,
        errors: [{ field: error.field, message: error.reason }],
      });
    }
    // express.json() reports unreadable bodies with a status (and mostly a type), a body its
    // client cut short too: a socket error of the request's, not of a dependency.
    const status = (error as { status?: number }).status;
    if (status && status >= 400 && status < 500) return sendProblem(res, unreadableBody(error as BodyError, status));
    // An outage, not a fault: no stack, and the log hears of it once per interval (an append the
    // store gave up on after its own retries counts too: it may or may not have been stored).
    const unreachable = unreachableDependency(error);
    if (unreachable) return sendProblem(res, outages.refuse(unreachable, error, res));
    logger.error('request failed', { method: req.method, path: req.path, error: error instanceof Error ? { message: error.message, stack: error.stack } : error });
    sendProblem(res, { type: '/problems/internal', title: 'Internal server error', status: 500, detail: 'The request failed; it has been logged.' });
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
  return {
    type: '/problems/invalid-request',
    title: 'Invalid request',
    status: 400,
    detail: errors.map((e) => `${e.field || '(body)'}: ${e.message}`).join('; '),
    errors,
  };
}

type BodyError = Error & { type?: string; code?: string };

/**
 * A body express.json() could not read, naming what to fix: the Content-Encoding it could not undo
 * (a decompression error has a zlib or brotli code and no type), the Content-Type's charset, or the
 * body itself (not JSON, too large).
 */
function unreadableBody(error: BodyError, status: number): Problem {
  const tooLarge = error.type === 'entity.too.large';
  const field =
    error.type === 'encoding.unsupported' || (!error.type && /^(Z_|ERR__)/.test(error.code ?? ''))
      ? 'Content-Encoding'
      : error.type === 'charset.unsupported'
        ? 'Content-Type'
        : '(body)';
  const message = field === 'Content-Encoding' ? `the body could not be decoded: ${error.message}` : tooLarge ? error.message : `must be JSON: ${error.message}`;
  return {
    type: tooLarge ? '/problems/payload-too-large' : '/problems/malformed-request',
    title: tooLarge ? 'Payload too large' : 'Malformed request body',
    status,
    detail: `${field}: ${message}`,
    errors: [{ field, message }],
  };
}
