import { randomUUID } from 'node:crypto';
import { InvalidInputError } from './errors.js';
import type { EventFilter, EventToAppend, ExpectedRevision, JsonObject, ReadStreamOptions } from './contract.js';

/** Stream ids are `<category>-<id>`: 1 to 200 visible characters, not starting with `$` (reserved). */
export const STREAM_ID = /^[^\s$][^\s]{0,199}$/;
/** Event types start with a letter and hold 1 to 200 letters, digits or `_ . : -`. */
export const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,199}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_EVENTS_PER_APPEND = 10_000;

export function assertStreamId(streamId: unknown, field = 'streamId'): asserts streamId is string {
  if (typeof streamId !== 'string' || !STREAM_ID.test(streamId)) {
    throw new InvalidInputError(field, 'must be 1 to 200 characters without whitespace, not starting with "$"');
  }
}

export function assertEventId(eventId: unknown, field = 'eventId'): asserts eventId is string {
  if (typeof eventId !== 'string' || !UUID.test(eventId)) throw new InvalidInputError(field, 'must be a UUID');
}

export function assertExpectedRevision(expected: unknown): asserts expected is ExpectedRevision {
  const ok =
    expected === 'no_stream' || expected === 'exists' || expected === 'any' || (typeof expected === 'bigint' && expected >= 0n);
  if (!ok) {
    throw new InvalidInputError('expectedRevision', 'must be a revision (bigint >= 0n), "no_stream", "exists" or "any"');
  }
}

export function assertMaxCount(maxCount: unknown, field = 'maxCount'): asserts maxCount is number | undefined {
  if (maxCount !== undefined && !(Number.isSafeInteger(maxCount) && (maxCount as number) >= 0)) {
    throw new InvalidInputError(field, 'must be a non-negative integer');
  }
}

/** Checks a stream read's direction and start, and fills in the start: backwards reads begin at the end. */
export function readStreamStart(options: ReadStreamOptions): { backwards: boolean; from: bigint | 'start' | 'end' } {
  const backwards = options.direction === 'backwards';
  if (options.direction !== undefined && options.direction !== 'forwards' && !backwards) {
    throw new InvalidInputError('direction', 'must be "forwards" or "backwards"');
  }
  const from = options.fromRevision ?? (backwards ? 'end' : 'start');
  if (!(from === 'start' || from === 'end' || (typeof from === 'bigint' && from >= 0n))) {
    throw new InvalidInputError('fromRevision', 'must be a revision (bigint >= 0n), "start" or "end"');
  }
  return { backwards, from };
}

export function assertFilter(filter: unknown): asserts filter is EventFilter | undefined {
  if (filter === undefined) return;
  if (typeof filter !== 'object' || filter === null) throw new InvalidInputError('filter', 'must be an object');
  for (const key of Object.keys(filter)) {
    const list = (filter as Record<string, unknown>)[key];
    if (!['categories', 'eventTypes', 'streamIds'].includes(key)) {
      throw new InvalidInputError(`filter.${key}`, 'is not a known filter (categories, eventTypes, streamIds)');
    }
    if (list !== undefined && !(Array.isArray(list) && list.every((v) => typeof v === 'string' && v.length > 0))) {
      throw new InvalidInputError(`filter.${key}`, 'must be a list of non-empty strings');
    }
  }
}

/** An event checked once, with data and metadata serialized for the wire. */
export interface PreparedEvent {
  id: string;
  type: string;
  data: string;
  metadata: string;
}

/**
 * Checks every event (id, type, JSON-only data and metadata, size) and serializes it. Throws
 * InvalidInputError naming the first bad field, before anything reaches the store.
 */
export function prepareEvents(events: unknown, maxBytes: number): PreparedEvent[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidInputError('events', 'must be a non-empty list');
  }
  if (events.length > MAX_EVENTS_PER_APPEND) {
    throw new InvalidInputError('events', `must hold at most ${MAX_EVENTS_PER_APPEND} events`);
  }
  const seen = new Set<string>();
  return events.map((event: EventToAppend, index) => {
    const at = `events[${index}]`;
    if (typeof event !== 'object' || event === null) throw new InvalidInputError(at, 'must be an object');
    const id = event.id ?? randomUUID();
    if (typeof id !== 'string' || !UUID.test(id)) throw new InvalidInputError(`${at}.id`, 'must be a UUID');
    const lowerId = id.toLowerCase();
    if (seen.has(lowerId)) throw new InvalidInputError(`${at}.id`, 'appears twice in one append');
    seen.add(lowerId);
    if (typeof event.type !== 'string' || !EVENT_TYPE.test(event.type)) {
      throw new InvalidInputError(`${at}.type`, 'must start with a letter and hold 1 to 200 letters, digits or _ . : -');
    }
    assertJsonObject(event.data, `${at}.data`);
    const metadata: JsonObject = event.metadata ?? {};
    assertJsonObject(metadata, `${at}.metadata`);
    const data = JSON.stringify(event.data);
    const metadataJson = JSON.stringify(metadata);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: count bytes only when it could matter.
    const length = data.length + metadataJson.length;
    if (length * 3 > maxBytes && Buffer.byteLength(data) + Buffer.byteLength(metadataJson) > maxBytes) {
      throw new InvalidInputError(at, `is larger than ${maxBytes} bytes when serialized`);
    }
    return { id: lowerId, type: event.type, data, metadata: metadataJson };
  });
}

function assertJsonObject(value: unknown, field: string): asserts value is JsonObject {
  if (!isPlainObject(value)) throw new InvalidInputError(field, 'must be a JSON object');
  const problem = findUnstorable(value);
  if (problem) throw new InvalidInputError(field + problem.path, problem.reason);
}

/** How deep JSON may nest, here and at the HTTP edge: deep enough for any document, shallow enough for every recursive reader. */
export const MAX_JSON_DEPTH = 64;

/** A container on the walk's stack, with how it was reached (for the path of a fault). */
interface Visit {
  value: object;
  depth: number;
  key: string | number | undefined;
  parent: Visit | undefined;
}

/**
 * Finds the first value that would not survive the trip to either store unchanged: undefined,
 * functions, NaN, bigints, dates, cycles, nesting deeper than MAX_JSON_DEPTH, the NUL character
 * (PostgreSQL's jsonb refuses it) or a lone surrogate (not Unicode: PostgreSQL refuses it, and the
 * hash chain could not hash it faithfully), in a value or a key. It walks with a stack of its own,
 * so no input can overflow the call stack; it runs on every request and append, so only
 * containers are stacked and a path (`.a[2].b`) is built only for the value at fault.
 */
export function findUnstorable(root: unknown): { path: string; reason: string } | undefined {
  const rootProblem = leafProblem(root);
  if (rootProblem !== null) return rootProblem === undefined ? undefined : { path: '', reason: rootProblem };
  const stack: Visit[] = [{ value: root as object, depth: 0, key: undefined, parent: undefined }];
  for (let visit = stack.pop(); visit; visit = stack.pop()) {
    const { value, depth } = visit;
    if (depth >= MAX_JSON_DEPTH) return { path: pathOf(visit), reason: `nests deeper than ${MAX_JSON_DEPTH} levels` };
    const array = Array.isArray(value);
    if (!array && !isPlainObject(value)) return { path: pathOf(visit), reason: 'must be JSON (a plain object, array, string, number, boolean or null)' };
    const keys = array ? undefined : Object.keys(value);
    const count = keys ? keys.length : (value as unknown[]).length;
    for (let i = count - 1; i >= 0; i--) {
      const key = keys ? keys[i]! : i;
      if (keys) {
        const keyProblem = textProblem(key as string);
        if (keyProblem) return { path: pathOf(visit), reason: `keys ${keyProblem}` };
      }
      const child = (value as Record<string | number, unknown>)[key];
      const problem = leafProblem(child);
      if (problem === null) stack.push({ value: child as object, depth: depth + 1, key, parent: visit });
      else if (problem !== undefined) return { path: pathOf({ value, depth: depth + 1, key, parent: visit }), reason: problem };
    }
  }
  return undefined;
}

/** Why a value that holds nothing cannot be stored; undefined when it can; null when it is a container to walk. */
function leafProblem(value: unknown): string | undefined | null {
  switch (typeof value) {
    case 'string':
      return textProblem(value);
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : 'must be a finite number';
    case 'object':
      return value === null ? undefined : null;
    default:
      return `must be JSON, not ${typeof value}`;
  }
}

/** Why text cannot be stored as it is, if it cannot: the NUL character or a lone surrogate. */
export function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain the NUL character';
  // A lone surrogate is not Unicode; isWellFormed (ES2024, in Node 20) tells in native code.
  if (!(text as string & { isWellFormed(): boolean }).isWellFormed()) return 'must be valid Unicode (it holds a lone UTF-16 surrogate)';
  return undefined;
}

function pathOf(visit: Visit): string {
  let path = '';
  for (let at: Visit | undefined = visit; at?.parent; at = at.parent) path = (typeof at.key === 'number' ? `[${at.key}]` : `.${at.key}`) + path;
  return path;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
