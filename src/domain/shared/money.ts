import { z } from 'zod';

/**
 * An exact amount: a decimal string (no binary floating point) with an ISO 4217 currency code.
 * Up to 15 integer digits and 4 decimals, e.g. { amount: '1250000.00', currency: 'USD' }.
 */
export const Money = z.object({
  amount: z.string().regex(/^(0|[1-9]\d{0,14})(\.\d{1,4})?$/, 'must be a non-negative decimal string such as "1250000.00"'),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"'),
});
export type Money = z.infer<typeof Money>;

/** Compares two non-negative decimal strings exactly. */
export function compareDecimals(a: string, b: string): -1 | 0 | 1 {
  const [ai = '', af = ''] = a.split('.');
  const [bi = '', bf = ''] = b.split('.');
  if (ai.length !== bi.length) return ai.length < bi.length ? -1 : 1;
  if (ai !== bi) return ai < bi ? -1 : 1;
  const width = Math.max(af.length, bf.length);
  const x = af.padEnd(width, '0');
  const y = bf.padEnd(width, '0');
  return x === y ? 0 : x < y ? -1 : 1;
}

/** Adds two non-negative decimal strings exactly (up to 4 decimals, as Money allows). */
export function addDecimals(a: string, b: string): string {
  return fromTenThousandths(toTenThousandths(a) + toTenThousandths(b));
}

/** A non-negative decimal string (up to 4 decimals) as an exact integer count of ten-thousandths. */
export function toTenThousandths(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.');
  return BigInt(whole) * 10_000n + BigInt(fraction.padEnd(4, '0').slice(0, 4));
}

/** The decimal string of a count of ten-thousandths, negative ones too, without trailing zeros. */
export function fromTenThousandths(value: bigint): string {
  const sign = value < 0n ? '-' : '';
  const magnitude = value < 0n ? -value : value;
  const fraction = (magnitude % 10_000n).toString().padStart(4, '0').replace(/0+$/, '');
  return `${sign}${magnitude / 10_000n}${fraction ? `.${fraction}` : ''}`;
}

/**
 * The one form an amount takes in every answer: exact, without trailing fractional zeros
 * ("25000000.00" and "25000000" are both "25000000"; "12.50" is "12.5"). Stored events keep what
 * was sent; read models, time travel and commands' new events use this.
 */
export function canonicalAmount(decimal: string): string {
  return fromTenThousandths(toTenThousandths(decimal));
}

/** Money as a command accepts it: any form Money allows, kept in the canonical one, so new events carry that. */
export const CanonicalMoney = Money.transform(({ amount, currency }) => ({ amount: canonicalAmount(amount), currency }));
