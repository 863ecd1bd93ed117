import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

/** One API process as the load balancer sees it. */
export interface Endpoint {
  slot: number;
  generation: number;
  pool: Pool;
  /** The soak is about to kill this generation, or has: out of the rotation, and requests it cut were expected to be cut. */
  killed: boolean;
  /** A request to it failed to connect: out of the rotation until then (a load balancer's passive check). */
  downUntil: number;
}

/** One command as the soak means it: sent once, or again with its Idempotency-Key. */
export interface Command {
  seq: number;
  op: string;
  method: 'POST' | 'PATCH';
  path: string;
  body: object;
  /** Sent as X-Correlation-Id: the log's events of this command carry it. */
  correlationId: string;
  key?: string;
  /** The stream it writes, when known before it is sent (creations learn it from Location). */
  stream?: string;
  who: string;
  deliveries: Delivery[];
}

/** One send of a command by a client, with its retries after connection errors. */
export interface Delivery {
  /** How the command was sent this time: first, repeat (after an answer) or twin (at the same time as another). */
  kind: 'first' | 'repeat' | 'twin';
  attempts: Attempt[];
  outcome?: 'acknowledged' | 'refused' | 'server-error' | 'cut';
  status?: number;
  body?: unknown;
  location?: string;
}

export interface Attempt {
  slot: number;
  generation: number;
  ms: number;
  status?: number;
  /** A connection error or timeout: the request may or may not have done its work. */
  error?: string;
  /** The connection died because the soak killed the API. */
  cutByKill?: boolean;
}

/**
 * Spreads commands over the API processes round-robin, as a load balancer would: one whose
 * connection fails leaves the rotation until it is started again. A command with an
 * Idempotency-Key whose request was cut is sent again to the next API (safe: the key makes it
 * happen once); one without is left unacknowledged, its outcome unknown.
 */
export class SoakClient {
  readonly endpoints: Endpoint[] = [];
  readonly commands: Command[] = [];
  private next = 0;
  private seq = 0;

  constructor(private readonly keys: Record<string, string>) {}

  /** Puts an API process (new, or started again in its slot) into the rotation. */
  attach(slot: number, generation: number, port: number): void {
    const endpoint: Endpoint = { slot, generation, pool: new Pool(`http://127.0.0.1:${port}`, { connections: 32, headersTimeout: 60_000, bodyTimeout: 60_000 }), killed: false, downUntil: 0 };
    const old = this.endpoints.findIndex((e) => e.slot === slot);
    if (old === -1) this.endpoints.push(endpoint);
    else {
      void this.endpoints[old]!.pool.destroy().catch(() => undefined);
      this.endpoints[old] = endpoint;
    }
  }

  /** Takes a slot out of the rotation before the soak kills it. */
  detach(slot: number): void {
    this.endpoints.find((e) => e.slot === slot)!.killed = true;
  }

  command(op: string, method: Command['method'], path: string, body: object, who: string, options: { key?: boolean; stream?: string } = {}): Command {
    const seq = ++this.seq;
    const command: Command = {
      seq,
      op,
      method,
      path,
      body,
      correlationId: `soak-${seq}-${Math.random().toString(36).slice(2, 10)}`,
      who,
      deliveries: [],
      ...(options.key ? { key: `soak-key-${seq}-${Math.random().toString(36).slice(2, 10)}` } : {}),
      ...(options.stream ? { stream: options.stream } : {}),
    };
    this.commands.push(command);
    return command;
  }

  /** Sends a command (again); resolves with this delivery. */
  async send(command: Command, kind: Delivery['kind'] = 'first'): Promise<Delivery> {
    const delivery: Delivery = { kind, attempts: [] };
    command.deliveries.push(delivery);
    const giveUpAt = Date.now() + 60_000;
    for (let tries = 0; tries < 5 && Date.now() < giveUpAt; tries++) {
      const endpoint = this.pick();
      if (!endpoint) {
        await sleep(20);
        tries--;
        continue;
      }
      const attempt: Attempt = { slot: endpoint.slot, generation: endpoint.generation, ms: 0 };
      delivery.attempts.push(attempt);
      const started = performance.now();
      try {
        const res = await endpoint.pool.request({
          path: command.path,
          method: command.method,
          headers: {
            authorization: `Bearer ${this.keys[command.who]}`,
            'content-type': 'application/json',
            'x-correlation-id': command.correlationId,
            ...(command.key ? { 'idempotency-key': command.key } : {}),
          },
          body: JSON.stringify(command.body),
        });
        const text = await res.body.text();
        attempt.ms = performance.now() - started;
        attempt.status = res.statusCode;
        delivery.status = res.statusCode;
        delivery.body = parse(text);
        if (typeof res.headers.location === 'string') delivery.location = res.headers.location;
        delivery.outcome = res.statusCode < 300 ? 'acknowledged' : res.statusCode < 500 ? 'refused' : 'server-error';
        if (delivery.location && !command.stream) command.stream = streamOf(delivery.location);
        return delivery;
      } catch (error) {
        attempt.ms = performance.now() - started;
        attempt.error = (error as { code?: string }).code ?? (error as Error).message;
        attempt.cutByKill = endpoint.killed;
        // A load balancer's passive check: a process that cannot be reached leaves the rotation for a while.
        endpoint.downUntil = Date.now() + 1000;
        if (!command.key) break;
      }
    }
    delivery.outcome = 'cut';
    return delivery;
  }

  private pick(): Endpoint | undefined {
    for (let i = 0; i < this.endpoints.length; i++) {
      const endpoint = this.endpoints[this.next++ % this.endpoints.length]!;
      if (!endpoint.killed && Date.now() >= endpoint.downUntil) return endpoint;
    }
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.pool.close().catch(() => undefined)));
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `/api/deals/<id>` → `deal-<id>`, `/api/actions/<id>` → `action-<id>`. */
export function streamOf(location: string): string {
  const [, collection, id] = /^\/api\/(deals|actions)\/([^/]+)$/.exec(location) ?? [];
  if (!collection || !id) throw new Error(`unexpected Location ${location}`);
  return `${collection === 'deals' ? 'deal' : 'action'}-${id}`;
}

export function idOf(stream: string): string {
  return stream.slice(stream.indexOf('-') + 1);
}
