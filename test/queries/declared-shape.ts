import { expect } from 'chai';
import { queryRoutes } from '../../src/queries/index.js';

/**
 * Checks a query's answer against the response schema its route declares (the one the OpenAPI
 * description is generated from). The schemas are strict objects: a field missing, added or of
 * another shape fails.
 */
export function expectDeclaredShape(path: string, body: unknown): void {
  const route = queryRoutes.find((candidate) => new RegExp(`^/api${candidate.path.replace(/:\w+/g, '[^/]+')}$`).test(path));
  expect(route, `a query route for ${path}`).to.not.equal(undefined);
  const parsed = route!.response.safeParse(body);
  expect(parsed.success, `${path}: ${parsed.error?.message}`).to.equal(true);
}
