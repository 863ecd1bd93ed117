/**
 * Values a fuzzed request carries before it is written out: JSON, plus three markers that keep a
 * request small, printable and replayable. fast-check shrinks the numbers in them like any other.
 */

/** `depth` levels of `[…]` or `{"a":…}` around `null`: built as text, never as a deep object. */
export class Nested {
  constructor(
    readonly depth: number,
    readonly shape: 'array' | 'object',
  ) {}
}

/** JSON text that no JS value writes: `1e400`, `-0`, integers past 2^53. */
export class RawJson {
  constructor(readonly text: string) {}
}

/**
 * The index-th newest object of a pool the run keeps (a deal id, a position), resolved when sent.
 * Objects that live under another (a run under its agent) are kept as `parent/child`: `part` picks one.
 */
export class Ref {
  constructor(
    readonly pool: string,
    readonly index: number,
    readonly part?: 0 | 1,
  ) {}
}

export type Resolve = (ref: Ref) => string;

/** The request body's text. */
export function jsonText(value: unknown, resolve: Resolve): string {
  if (value instanceof Nested) {
    const [open, close] = value.shape === 'array' ? ['[', ']'] : ['{"a":', '}'];
    return open.repeat(value.depth) + 'null' + close.repeat(value.depth);
  }
  if (value instanceof RawJson) return value.text;
  if (value instanceof Ref) return JSON.stringify(resolve(value));
  if (Array.isArray(value)) return `[${value.map((item) => jsonText(item, resolve)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}:${jsonText(item, resolve)}`).join(',')}}`;
  }
  // JSON.stringify writes lone surrogates as \ud800 escapes: the server's JSON.parse makes them lone again.
  return JSON.stringify(value) ?? 'null';
}

const LONG = 60;

/** The body as a person reads it in a report: long strings and deep nesting said in words. */
export function preview(value: unknown, resolve: Resolve): string {
  if (value instanceof Nested) return `<${value.depth} levels of ${value.shape === 'array' ? '[…]' : '{"a":…}'}>`;
  if (value instanceof RawJson) return value.text;
  if (value instanceof Ref) return JSON.stringify(resolve(value));
  if (typeof value === 'string') return shortString(value);
  if (Array.isArray(value)) return `[${value.map((item) => preview(item, resolve)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([key, item]) => `${shortString(key)}:${preview(item, resolve)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** A string as JSON, its middle cut when long: "xxxx…(200000 chars)…xxxx". */
export function shortString(text: string): string {
  if (text.length <= LONG) return JSON.stringify(text);
  const head = JSON.stringify(text.slice(0, 20)).slice(0, -1);
  const tail = JSON.stringify(text.slice(-20)).slice(1);
  return `${head}…(${text.length} chars)…${tail}`;
}

/** encodeURIComponent, except that a lone surrogate goes out as its three (WTF-8) bytes instead of throwing. */
export function percentEncode(text: string): string {
  let out = '';
  for (const char of text) {
    const unit = char.charCodeAt(0);
    if (char.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      out += [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((byte) => '%' + byte.toString(16).toUpperCase()).join('');
    } else {
      out += encodeURIComponent(char);
    }
  }
  return out;
}
