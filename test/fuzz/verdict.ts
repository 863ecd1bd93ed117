import { PROBLEM_CATALOG } from '../../src/http/problem-catalog.js';
import type { Outcome, Sent } from './send.js';

/** Why an answer is wrong; undefined when it is not. `logged`: what the server logged meanwhile. */
export function verdictOn(sent: Sent, outcome: Outcome, logged: readonly { level: string }[]): string | undefined {
  const { status, body } = outcome;
  if (status === 0) return `no answer (${outcome.error})`;
  if (outcome.streamEnded) return 'the feed ended by itself after answering 200';
  if (outcome.streamEnded === false && logged.length > 0) return 'the feed failed after answering 200 (see the server log)';
  if (status >= 500) return 'server error';
  if (status < 400) return undefined;
  if (!outcome.contentType.startsWith('application/problem+json')) return `a ${status} that is not application/problem+json (${outcome.contentType || 'no content type'})`;
  if (!isProblem(body)) return 'a problem without type and title';
  if (body.status !== status) return `a problem whose status (${String(body.status)}) is not the answer's`;
  const uncatalogued = notAsCatalogued(body);
  if (uncatalogued) return uncatalogued;
  if (status === 400) return namesWhatIsWrong(sent, body);
  return undefined;
}

interface Problem {
  type: string;
  title: string;
  code?: unknown;
  status?: unknown;
  detail?: unknown;
  errors?: unknown;
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && typeof (body as Problem).type === 'string' && typeof (body as Problem).title === 'string';
}

/** Every problem has a catalogued code, and that code's own title and type (the occurrence goes in detail). */
function notAsCatalogued(problem: Problem): string | undefined {
  const entry = PROBLEM_CATALOG.find((e) => e.code === problem.code);
  if (!entry) return `a problem whose code is not catalogued (${String(problem.code)})`;
  if (problem.title !== entry.title || problem.type !== entry.type) return `a ${entry.code} problem whose title or type is not its code's`;
  return undefined;
}

/**
 * A 400 names each invalid field in `errors: [{field, message}]`. Where there is no field to name,
 * a `detail` saying what is wrong does: a body that is not JSON, a path that is not valid
 * percent-encoding, a bad header (named in the detail).
 */
function namesWhatIsWrong(sent: Sent, problem: Problem): string | undefined {
  const { errors, detail } = problem;
  if (Array.isArray(errors) && errors.length > 0) {
    const wellFormed = errors.every((error) => typeof error?.field === 'string' && typeof error?.message === 'string' && error.message !== '');
    // A field of '' is the body itself: a body that is no object, or a rule over its fields together.
    return wellFormed ? undefined : 'a 400 whose errors are not all {field, message}';
  }
  if (typeof detail !== 'string' || detail === '') return 'a 400 without errors[] or a detail (a title only)';
  const text = `${problem.title} ${detail}`.toLowerCase();
  const excused = sent.blame.some((blamed) => blamed === 'body' || blamed === 'path' || text.includes(blamed));
  return excused ? undefined : 'a 400 with no errors[], for input that parses';
}

/** The detail's first line, as failures are grouped by it. */
export function firstLine(body: unknown): string {
  const detail = typeof body === 'object' && body !== null ? ((body as Problem).detail ?? (body as Problem).title) : body;
  return String(detail ?? '').split('\n')[0]!.slice(0, 120);
}
