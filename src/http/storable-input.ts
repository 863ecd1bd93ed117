import type { RequestHandler } from 'express';
import { InvalidInputError } from '../eventstore/errors.js';
import { findUnstorable, textProblem } from '../eventstore/validation.js';

/**
 * Refuses, at the edge and before any handler, input that no store could keep as it is: a NUL
 * character or a lone surrogate in the path, a query parameter or anywhere in a JSON body, and a
 * body nested deeper than MAX_JSON_DEPTH. A 400 names the field (`text`, `payload.a[3]`, `owner`;
 * `path` for a path segment, whose parameter's name is not known yet), so deep code such as
 * PostgreSQL's text columns and the hash chain only ever sees what it can hold.
 */
export const refuseUnstorableInput: RequestHandler = (req, _res, next) => {
  next(pathProblem(req.path) ?? queryProblem(req.query) ?? bodyProblem(req.body));
};

function pathProblem(path: string): InvalidInputError | undefined {
  for (const segment of path.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return new InvalidInputError('path', `segment "${segment.slice(0, 100)}" is not valid percent-encoded UTF-8`);
    }
    const reason = textProblem(decoded);
    if (reason) return new InvalidInputError('path', `each segment ${reason}`);
  }
  return undefined;
}

function queryProblem(query: unknown): InvalidInputError | undefined {
  for (const [name, value] of Object.entries(query as Record<string, unknown>)) {
    const nameProblem = textProblem(name);
    if (nameProblem) return new InvalidInputError('query', `parameter names ${nameProblem}`);
    const problem = findUnstorable(value);
    if (problem) return new InvalidInputError(name + problem.path, problem.reason);
  }
  return undefined;
}

function bodyProblem(body: unknown): InvalidInputError | undefined {
  if (body === undefined) return undefined;
  const problem = findUnstorable(body);
  // A path starts with '.' or '['; the body itself is named as zod's answers name it.
  return problem && new InvalidInputError(problem.path.replace(/^\./, '') || '(body)', problem.reason);
}
