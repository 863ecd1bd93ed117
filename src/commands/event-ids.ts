import { createHash } from 'node:crypto';

/** A UUID (RFC 9562 version 8) determined by its parts: the same parts, the same id. */
export function derivedUuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Event ids derived from an idempotency key, per stream and per event: the same key names the same
 * events, so a repeated command is recognised in the stream (and by the store's own idempotency).
 */
export function eventIdsFromKey(idempotencyKey: string, streamId: string): (index: number) => string {
  return (index) => derivedUuid(idempotencyKey, streamId, String(index));
}
