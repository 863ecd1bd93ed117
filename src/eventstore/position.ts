import { InvalidInputError } from './errors.js';
import type { Position } from './contract.js';

/**
 * Both adapters encode a position as two numbers (PostgreSQL: transaction id and sequence;
 * EventStoreDB: commit and prepare), as 32 fixed-width hex digits, so that string order is position
 * order. Each half is below 2^63: PostgreSQL keeps them as bigint, and a token beyond that could
 * only overflow a query, so it is no token at all.
 */
export const POSITION_TOKEN = /^[0-7][0-9a-f]{15}[0-7][0-9a-f]{15}$/;
const MAX_HALF = (1n << 63n) - 1n;

export function encodePosition(high: bigint, low: bigint): Position {
  if (high < 0n || low < 0n || high > MAX_HALF || low > MAX_HALF) throw new RangeError('position out of range');
  return high.toString(16).padStart(16, '0') + low.toString(16).padStart(16, '0');
}

export function decodePosition(token: unknown, field = 'position'): [high: bigint, low: bigint] {
  if (!isPositionToken(token)) {
    throw new InvalidInputError(field, 'must be a position token returned by the event store');
  }
  return [BigInt('0x' + token.slice(0, 16)), BigInt('0x' + token.slice(16))];
}

export function isPositionToken(token: unknown): token is Position {
  return typeof token === 'string' && POSITION_TOKEN.test(token);
}

export const START_POSITION: Position = encodePosition(0n, 0n);

export function comparePositions(a: Position, b: Position): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}
