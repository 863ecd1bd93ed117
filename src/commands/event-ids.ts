import { createHash } from 'node:crypto';

/**
 * Event ids derived from an idempotency key, per stream and per event: the same key names the same
 * events, so a repeated command is recognised in the stream (and by the store's own idempotency).
 */
export function eventIdsFromKey(idempotencyKey: string, streamId: string): (index: number) => string {
  return (index) => {
    const hex = createHash('sha256').update(`${idempotencyKey}\u0000${streamId}\u0000${index}`).digest('hex');
    // An RFC 9562 version 8 (custom) UUID.
    const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  };
}
