import { createHmac } from 'node:crypto';

/**
 * Signs an outgoing call the Standard Webhooks way (standardwebhooks.com): HMAC-SHA256 over
 * `<id>.<timestamp>.<body>`, sent as `webhook-signature: v1,<base64>` beside `webhook-id` and
 * `webhook-timestamp`, so a receiver can check origin and freshness with any of its libraries.
 * A `whsec_` secret is base64 after the prefix (as those libraries expect); any other is used as is.
 */
export function standardWebhookHeaders(secret: string, id: string, body: string, at = new Date()): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret);
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
