import { Ref } from './fuzz-values.js';
import type { FuzzRequest } from './request-arbitrary.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * What a request got wrong on purpose, in words ("body:lone-surrogate", "query:owner",
 * "header:if-match"): a failure class tallies them, so that causes sharing one endpoint and status
 * tell themselves apart.
 */
export function ingredientsOf(request: FuzzRequest): string[] {
  const { operation, caller, path, query, headers, body } = request;
  const found: string[] = [];
  if (caller === 'anonymous' || (operation.roles !== 'every' && !operation.roles.includes(caller))) found.push(`caller:${caller}`);
  path.forEach((value, i) => {
    if (!(value instanceof Ref) && !(typeof value === 'string' && UUID.test(value))) found.push(`path:${operation.pathParams[i]!.name}`);
  });
  const named = new Set(operation.query.map((parameter) => parameter.name));
  const seen = new Set<string>();
  for (const { name, hostile } of query) {
    if (!named.has(name)) found.push(`query:unknown(${name})`);
    else if (seen.has(name)) found.push(`query:${name} twice`);
    else if (hostile) found.push(`query:${name}`);
    seen.add(name);
  }
  for (const [name] of headers) found.push(`header:${name}`);
  if (body.kind === 'json') for (const mutation of body.mutations) found.push(`body:${mutation.kind} at ${mutation.path.join('.') || '(body)'}`);
  if (body.kind === 'text') found.push(body.parses ? 'body:not an object' : 'body:not JSON');
  if (body.kind === 'oversize') found.push('body:over 1 MB');
  return found;
}
