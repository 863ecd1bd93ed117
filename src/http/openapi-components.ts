import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';

type Json = Record<string, unknown>;
const SCHEMAS = '#/components/schemas/';

/**
 * The reusable parts of an OpenAPI document: zod schemas become JSON Schema (2020-12, as OpenAPI
 * 3.1 takes it) with their shared parts under `components.schemas`, referred to by `$ref`.
 *
 * - A schema with an id (`.meta({ id: 'Problem' })`), which zod emits under `$defs`, is moved to
 *   `components.schemas` under that id.
 * - A domain shape named in `shared` (Money) cannot carry an id without its events' JSON Schemas
 *   gaining `$defs` too; wherever its exact JSON Schema appears, it is replaced by a reference.
 */
export class Components {
  readonly schemas: Record<string, Json> = {};
  private readonly shared: [id: string, schema: Json][] = [];
  readonly responses: Record<string, Json> = {};

  constructor(shared: Record<string, z.ZodType> = {}) {
    for (const [id, schema] of Object.entries(shared)) {
      const [input, output] = [this.convert(schema, 'input'), this.convert(schema, 'output')];
      this.shared.push([id, input]);
      if (!isDeepStrictEqual(input, output)) this.shared.push([`${id}Output`, output]);
    }
  }

  /** A request's shape (what zod accepts: `io: 'input'`) or an answer's (what the handler produces: 'output'). */
  schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
    return this.dedupe(this.convert(schema, io));
  }

  /** A named response, written once under components.responses; the reference to it. */
  response(name: string, response: () => Json): Json {
    this.responses[name] ??= response();
    return { $ref: `#/components/responses/${name}` };
  }

  private convert(schema: z.ZodType, io: 'input' | 'output'): Json {
    const { $schema: _, $defs, ...root } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json & { $defs?: Record<string, Json> };
    const definitions = Object.entries($defs ?? {});
    // An id whose input and output sides differ (a default, a transform) is kept twice: the second as `<id>2`.
    const renamed = new Map<string, string>();
    for (const [id, definition] of definitions) {
      const json = rewriteRefs(definition, new Map()) as Json;
      let name = id;
      for (let n = 2; this.schemas[name] && !isDeepStrictEqual(this.schemas[name], json); n++) name = `${id}${n}`;
      renamed.set(id, name);
    }
    for (const [id, definition] of definitions) this.schemas[renamed.get(id)!] = rewriteRefs(definition, renamed) as Json;
    return rewriteRefs(root, renamed) as Json;
  }

  private dedupe(json: unknown): Json {
    const walk = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(walk);
      if (!node || typeof node !== 'object') return node;
      const match = this.shared.find(([, schema]) => isDeepStrictEqual(schema, node));
      if (match) {
        this.schemas[match[0]] ??= match[1];
        return { $ref: SCHEMAS + match[0] };
      }
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value)]));
    };
    return walk(json) as Json;
  }
}

/** `#/$defs/X` becomes `#/components/schemas/<X as it was named>`. */
function rewriteRefs(node: unknown, renamed: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map((item) => rewriteRefs(item, renamed));
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/$defs/')) {
        const id = value.slice('#/$defs/'.length);
        return [key, SCHEMAS + (renamed.get(id) ?? id)];
      }
      return [key, rewriteRefs(value, renamed)];
    }),
  );
}

/** A response header as a route declares it; `required` ones the tests' contract check insists on. */
export interface Header {
  description: string;
  required?: boolean;
}

/** The areas operations are grouped by (one tag each), as generated clients and the docs show them. */
export const TAGS = {
  deals: 'Deals and the pipeline',
  actions: 'What agents and people propose to do, what may be proposed and how risky it is',
  approvals: 'The humans in the loop: the approval queue, approvals and rejections',
  agents: 'Agents, their budgets, runs and tool calls',
  timeline: 'The latest events across the system',
  audit: 'For auditors: histories, the log, past states, exports and hash-chain verification',
  integrations: 'The live event feed (server-sent events) and the event types with their JSON Schemas',
  webhooks: 'Signed webhook subscriptions and their deliveries',
  principals: 'Who acts: people, agents and integrations, their roles and API keys',
  admin: 'The machinery: projections, job queues and workers',
  health: 'Probes for orchestrators and load balancers',
  meta: 'This description, its documentation and the keys that verify dealstream\'s tokens',
} as const;
export type Tag = keyof typeof TAGS;
