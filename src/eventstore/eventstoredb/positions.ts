import { START, type Position as EsdbPosition } from '@eventstore/db-client';
import type { Position } from '../contract.js';
import { START_POSITION, decodePosition, encodePosition } from '../position.js';

/**
 * An EventStoreDB position as a token. Both halves are kept: the commit position alone does not
 * order what subscriptions report. The server's catch-up checkpoints are `(c, 0)`, just before an
 * event at `(c, c)`; resuming from `c` alone would skip that event.
 */
export function toToken(position: EsdbPosition): Position {
  return encodePosition(position.commit, position.prepare);
}

/** A token as the client's position; the start token lies before every event, so it is the client's START. */
export function fromToken(token: Position, field: string): EsdbPosition | typeof START {
  if (token === START_POSITION) return START;
  const [commit, prepare] = decodePosition(token, field);
  return { commit, prepare };
}
