import { z } from 'zod';
import { Actor as DomainActor } from '../domain/shared/event.js';
import { canonicalAmount } from '../domain/shared/money.js';

/**
 * The pieces every query answer is built from, each written once. Shapes with an `id` become
 * named components of the OpenAPI description (and named types in generated clients).
 */

/** An instant, ISO 8601 in UTC with milliseconds: "2026-03-01T09:30:00.000Z". */
export const Timestamp = z.iso.datetime();

/** A stream's revision, as a decimal string: hand it back in If-Match. */
export const Revision = z.string().regex(/^\d+$/).describe('The revision of the stream, as a decimal string: send it as If-Match');

/** The id of a resource dealstream created (deal, action, agent, run). */
export const Id = z.uuid();

export const Currency = z.string().regex(/^[A-Z]{3}$/).describe('ISO 4217 code, e.g. "USD"');

/** An amount in its one canonical form: exact, no trailing fractional zeros. */
export const Amount = z
  .string()
  .regex(/^(0|[1-9]\d*)(\.\d*[1-9])?$/)
  .describe('An exact decimal string in canonical form: no trailing fractional zeros ("25000000", "12.5")');

export const Money = z.strictObject({ amount: Amount, currency: Currency }).meta({ id: 'Money', description: 'An exact amount in a currency' });
export type Money = z.infer<typeof Money>;

/** A stored amount (numeric or text) with its currency, as an answer shows it; null stays null. */
export function moneyOf(amount: unknown, currency: unknown): Money | null {
  return amount === null || amount === undefined ? null : { amount: canonicalAmount(String(amount)), currency: currency as string };
}

/** The canonical form of a stored amount (numeric comes back as "1250000.5000"). */
export function amountOf(amount: unknown): string {
  return canonicalAmount(String(amount));
}

export const Actor = DomainActor.meta({ id: 'Actor', description: 'Who did it: a person (user), an AI agent, an integration, a worker process or the system' });
export type Actor = z.infer<typeof Actor>;

/** A page of a list: pass `nextCursor` back as `cursor` for the next one. */
export function pageOf<Item extends z.ZodType>(item: Item) {
  return z.strictObject({
    items: z.array(item),
    nextCursor: z.string().nullable().describe('Opaque: pass it as `cursor` for the next page; null on the last page'),
  });
}
