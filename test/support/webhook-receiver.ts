import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import { Webhook } from 'standardwebhooks';
import type { CloudEvent } from '../../src/integrations/webhooks/cloud-event.js';

/**
 * An integration's endpoint: verifies each request with the `standardwebhooks` package and the
 * CloudEvents content type, records what it accepted, and answers `status` (or is closed).
 */
export class Receiver {
  readonly events: CloudEvent[] = [];
  readonly refused: string[] = [];
  status = 200;
  requests = 0;
  private inFlight = 0;
  maxInFlight = 0;
  private server: Server | undefined;
  /** Kept across a close, so it opens again where the subscription points. */
  port = 0;
  secret = '';

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** On 127.0.0.1, or `host` ('0.0.0.0' answers every loopback address too). */
  async open(host = '127.0.0.1'): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => void this.answer(req.headers, body).then((status) => res.writeHead(status).end()));
    });
    this.server.listen(this.port, host);
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Connections are refused until it opens again, on the same port. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.closeAllConnections();
    if (server?.listening) await new Promise((resolve) => server.close(resolve));
  }

  private async answer(headers: IncomingHttpHeaders, body: string): Promise<number> {
    const status = this.status;
    this.requests++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 2)); // long enough for a second request to overlap, if one could
      let event: CloudEvent;
      try {
        event = new Webhook(this.secret).verify(body, headers as Record<string, string>) as CloudEvent;
      } catch (error) {
        this.refused.push((error as Error).message);
        return 400;
      }
      if (headers['content-type'] !== 'application/cloudevents+json' || event.specversion !== '1.0' || headers['webhook-id'] !== event.id) {
        this.refused.push(`not a structured CloudEvent: ${headers['content-type']} ${body}`);
        return 400;
      }
      if (status >= 200 && status < 300) this.events.push(event);
      return status;
    } finally {
      this.inFlight--;
    }
  }
}
