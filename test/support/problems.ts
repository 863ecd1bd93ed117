import { expect } from 'chai';
import { PROBLEM_CATALOG, type CatalogEntry } from '../../src/http/problem-catalog.js';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** A title says what kind of problem it is, never which occurrence: no ids, no numbers. */
export function expectOccurrenceFree(title: string, label = title): void {
  expect(title, label).to.be.a('string').and.not.equal('');
  expect(title, `${label}: a title with an id`).not.to.match(UUID);
  expect(title, `${label}: a title with a number`).not.to.match(/\d/);
}

/**
 * A problem body as the catalogue says it must be: a catalogued `code`, its title, status and type,
 * and the occurrence's specifics in `detail`. Returns the catalogue's entry.
 */
export function expectCatalogued(body: Record<string, unknown>, label = JSON.stringify(body)): CatalogEntry {
  expect(body.code, `${label}: no code`).to.be.a('string');
  const entry = PROBLEM_CATALOG.find((e) => e.code === body.code);
  expect(entry, `${label}: ${String(body.code)} is not in the catalogue`).to.not.equal(undefined);
  expect(body, label).to.include({ title: entry!.title, status: entry!.status, type: entry!.type });
  expect(body.detail, `${label}: no detail`).to.be.a('string').and.not.equal('');
  expectOccurrenceFree(body.title as string, label);
  return entry!;
}
