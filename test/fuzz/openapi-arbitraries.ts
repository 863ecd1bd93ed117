import fc from 'fast-check';

/** The part of JSON Schema that zod's toJSONSchema writes into /openapi.json. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  default?: unknown;
}

export interface SchemaContext {
  /** `#/components/schemas/...` targets. */
  components?: Record<string, JsonSchema>;
  /** A value of one's own for a field (real ids for `dealId`, say); undefined: the schema decides. */
  override?: (path: readonly string[], schema: JsonSchema) => fc.Arbitrary<unknown> | undefined;
}

/** Longer strings and arrays than this add cost, not coverage: the mutations bring the huge ones. */
const EXTRA_LENGTH = 24;
const EXTRA_ITEMS = 4;

/** Values that (mostly) pass the schema: strings from their pattern or format, numbers within bounds. */
export function schemaArbitrary(schema: JsonSchema, context: SchemaContext = {}, path: readonly string[] = []): fc.Arbitrary<unknown> {
  const own = context.override?.(path, schema);
  if (own) return own;
  const withDefault = (arbitrary: fc.Arbitrary<unknown>) =>
    schema.default === undefined ? arbitrary : fc.oneof({ arbitrary: fc.constant(schema.default), weight: 1 }, { arbitrary, weight: 3 });
  if (schema.$ref) return schemaArbitrary(resolveRef(schema.$ref, context), context, path);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return withDefault(fc.constantFrom(...schema.enum));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return withDefault(fc.oneof(...alternatives.map((alternative) => schemaArbitrary(alternative, context, path))));
  if (schema.allOf) return schemaArbitrary(mergeAll(schema.allOf, context), context, path);
  if (Array.isArray(schema.type)) return withDefault(fc.oneof(...schema.type.map((type) => schemaArbitrary({ ...schema, type, default: undefined }, context, path))));
  return withDefault(typedArbitrary(schema, context, path));
}

function typedArbitrary(schema: JsonSchema, context: SchemaContext, path: readonly string[]): fc.Arbitrary<unknown> {
  switch (schema.type) {
    case 'object':
      return objectArbitrary(schema, context, path);
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.min(schema.maxItems ?? Infinity, minLength + EXTRA_ITEMS);
      return fc.array(schemaArbitrary(schema.items ?? {}, context, [...path, '0']), { minLength, maxLength });
    }
    case 'string':
      return stringArbitrary(schema);
    case 'integer':
    case 'number':
      return numberArbitrary(schema);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    default:
      // No type: any JSON (zod's z.unknown()).
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectArbitrary(schema: JsonSchema, context: SchemaContext, path: readonly string[]): fc.Arbitrary<unknown> {
  const properties = Object.entries(schema.properties ?? {});
  const extra = schema.additionalProperties;
  if (properties.length === 0 && extra !== false) {
    const values = typeof extra === 'object' ? schemaArbitrary(extra, context, [...path, '*']) : fc.jsonValue({ maxDepth: 2 });
    return fc.dictionary(fc.string({ maxLength: 12 }), values, { maxKeys: 4 });
  }
  const model = Object.fromEntries(properties.map(([name, property]) => [name, schemaArbitrary(property, context, [...path, name])]));
  return fc.record(model, { requiredKeys: (schema.required ?? []).filter((name) => name in model) });
}

function stringArbitrary(schema: JsonSchema): fc.Arbitrary<string> {
  const formatted = formatArbitrary(schema.format);
  if (formatted) return formatted;
  if (schema.pattern) {
    const matching = patternArbitrary(schema.pattern);
    if (matching) return matching;
  }
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.min(schema.maxLength ?? Infinity, minLength + EXTRA_LENGTH);
  // Mostly printable ASCII; some of any well-formed Unicode.
  return fc.oneof(
    { arbitrary: fc.string({ minLength, maxLength }), weight: 3 },
    { arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength }), weight: 1 },
  );
}

function formatArbitrary(format: string | undefined): fc.Arbitrary<string> | undefined {
  switch (format) {
    case 'uuid':
      return fc.uuid({ version: 4 });
    case 'date-time':
      return fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString());
    case 'email':
      return fc.emailAddress();
    case 'uri':
      return fc.webUrl();
    default:
      return undefined;
  }
}

/** fc.stringMatching knows most of what zod writes; a pattern it refuses leaves the string to its lengths. */
function patternArbitrary(pattern: string): fc.Arbitrary<string> | undefined {
  try {
    return fc.stringMatching(new RegExp(pattern));
  } catch {
    return undefined;
  }
}

function numberArbitrary(schema: JsonSchema): fc.Arbitrary<number> {
  const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : undefined);
  const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : undefined);
  if (schema.type === 'integer') {
    const bounds = { min: Math.max(min ?? Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER), max: Math.min(max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) };
    // Small values are the common case; the whole range finds the edges.
    const small = { min: bounds.min, max: Math.min(bounds.max, Math.max(bounds.min, 0) + 1000) };
    return fc.oneof({ arbitrary: fc.integer(small), weight: 3 }, { arbitrary: fc.integer(bounds), weight: 1 });
  }
  return fc.double({ noNaN: true, noDefaultInfinity: true, ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) });
}

function resolveRef(ref: string, context: SchemaContext): JsonSchema {
  const name = /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1];
  const target = name ? context.components?.[name] : undefined;
  if (!target) throw new Error(`cannot resolve ${ref}`);
  return target;
}

/** allOf as one object schema: properties and required fields together (enough for what zod writes). */
function mergeAll(schemas: JsonSchema[], context: SchemaContext): JsonSchema {
  const resolved = schemas.map((schema) => (schema.$ref ? resolveRef(schema.$ref, context) : schema));
  return resolved.reduce<JsonSchema>(
    (merged, schema) => ({
      ...merged,
      ...schema,
      properties: { ...merged.properties, ...schema.properties },
      required: [...(merged.required ?? []), ...(schema.required ?? [])],
    }),
    {},
  );
}
