/** One key of the secret box's keyring: 32 bytes for AES-256-GCM, named so ciphertexts can say which. */
export interface SecretKey {
  id: string;
  key: Buffer;
}

/** Key ids appear inside ciphertexts, between dots: letters, digits, _ and - only. */
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses `<keyId>:<base64 of 32 bytes>,…` (the format of SECRETS_KEY and of the key file). The
 * first key encrypts, every key decrypts: rotating is putting a new key first.
 */
export function parseKeyring(text: string): SecretKey[] {
  const entries = text.split(',').map((entry) => entry.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('must hold at least one <keyId>:<base64 of 32 bytes>');
  const keys = entries.map((entry) => {
    const colon = entry.indexOf(':');
    const id = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    if (colon < 0 || !KEY_ID.test(id)) throw new Error('each entry must be <keyId>:<base64 of 32 bytes>, the id made of letters, digits, _ or -');
    const key = Buffer.from(encoded, 'base64');
    if (!BASE64.test(encoded) || key.length !== 32) throw new Error(`key "${id}" must be 32 bytes in base64`);
    return { id, key };
  });
  const ids = keys.map((k) => k.id);
  const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
  if (repeated) throw new Error(`key id "${repeated}" appears twice`);
  return keys;
}
