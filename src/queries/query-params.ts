import { z } from 'zod';
import { POSITION_TOKEN } from '../eventstore/position.js';

/** The limits of every comma list: enough for every event type, or a hundred stream ids. */
const MAX_LIST_CHARACTERS = 4000;
const MAX_LIST_VALUES = 100;

/**
 * One value or a comma list (`?category=deal,action`), each value passing `accepts` (`expected`
 * says what passes, in the plural). A 400 names the parameter itself and the values refused.
 */
export function commaList(accepts: (value: string) => boolean, expected: string) {
  return z
    .string()
    .max(MAX_LIST_CHARACTERS)
    .transform((text, context) => {
      const values = [...new Set(text.split(',').map((value) => value.trim()))];
      const rejected = values.filter((value) => !accepts(value));
      if (rejected.length === 0 && values.length <= MAX_LIST_VALUES) return values;
      const message = rejected.length > 0
        ? `must be one or more ${expected}, comma-separated; not: ${rejected.join(', ') || '(empty)'}`
        : `must hold at most ${MAX_LIST_VALUES} values`;
      context.addIssue({ code: 'custom', message });
      return z.NEVER;
    });
}

/**
 * A position token, as the event store returns them. It aborts when it fails, so that in a union
 * (LogPosition) the union's own message is the one reported.
 */
export const PositionToken = z.string().regex(POSITION_TOKEN, { error: 'must be a position token returned by the event store', abort: true });

/** 'start' (before the first event), 'end' (the end of the log now) or a position token. */
export const LogPosition = z.union([z.enum(['start', 'end']), PositionToken], { error: 'must be "start", "end" or a position token returned by the event store' });
