import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type Config } from './config.js';
import { packageRoot } from './package-info.js';
import { parseKeyring, type SecretKey } from './secret-keyring.js';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export type SecretBoxFailure = 'malformed' | 'unknown-key' | 'tampered';

/** A ciphertext that cannot be opened; the message never holds the ciphertext or the key. */
export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError';
  constructor(
    readonly reason: SecretBoxFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Encryption at rest (AES-256-GCM) under a keyring: the first key encrypts, every key decrypts, so a
 * key is rotated by putting a new one first and keeping the old one until nothing uses it. A
 * ciphertext names its format and key (`v1.<keyId>.<iv>.<tag>.<data>`, base64url), and both are
 * authenticated with it, so a changed header fails like changed data.
 */
export class SecretBox {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly currentKeyId: string;

  constructor(keyring: readonly SecretKey[]) {
    if (keyring.length === 0) throw new Error('a secret box needs at least one key');
    for (const { id, key } of keyring) if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes`);
    this.keys = new Map(keyring.map(({ id, key }) => [id, key]));
    this.currentKeyId = keyring[0]!.id;
  }

  encrypt(plaintext: string): string {
    const header = `${VERSION}.${this.currentKeyId}`;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentKeyId)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(header));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [header, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
  }

  decrypt(ciphertext: string): string {
    const parts = ciphertext.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION || !parts.every((part) => BASE64URL.test(part))) {
      throw new SecretBoxError('malformed', `not a ${VERSION} ciphertext`);
    }
    const [, keyId, ivText, tagText, dataText] = parts as [string, string, string, string, string];
    const key = this.keys.get(keyId);
    if (!key) throw new SecretBoxError('unknown-key', `encrypted under key "${keyId}", which is not in the keyring`);
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    // A short tag would be accepted by GCM and weaken it: only the full length passes.
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretBoxError('malformed', 'wrong IV or tag length');
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(`${VERSION}.${keyId}`));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(Buffer.from(dataText, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('tampered', `does not authenticate under key "${keyId}"`);
    }
  }

  /** Whether this ciphertext is under an older key, so that a rotation can re-encrypt it. */
  isStale(ciphertext: string): boolean {
    return ciphertext.split('.', 2)[1] !== this.currentKeyId;
  }
}

export type SecretBoxConfig = Pick<Config, 'NODE_ENV' | 'SECRETS_KEY' | 'SECRETS_KEY_FILE'>;

/**
 * The box under SECRETS_KEY. Without it, production refuses (secrets would be as safe as a file on
 * one machine), and elsewhere a key file is used, created on first use. A relative key file is
 * found from dealstream's own folder, so every command finds the same one wherever it is run from.
 */
export async function openSecretBox(config: SecretBoxConfig, cwd = packageRoot() ?? process.cwd()): Promise<SecretBox> {
  if (config.SECRETS_KEY) return new SecretBox(config.SECRETS_KEY);
  if (config.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration: SECRETS_KEY is required when NODE_ENV=production (comma list of <keyId>:<base64 of 32 bytes>)');
  }
  return new SecretBox(await readOrCreateKeyFile(path.resolve(cwd, config.SECRETS_KEY_FILE)));
}

/**
 * The key file, made on first use (mode 0600). Processes starting together race to make it: each
 * writes a complete file of its own and links it into place, which only one link wins, so nobody
 * ever reads a half-written key; the losers read the winner's.
 */
async function readOrCreateKeyFile(file: string): Promise<SecretKey[]> {
  const existing = await readKeyFile(file);
  if (existing) return existing;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const candidate = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(candidate, `local-${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  try {
    await link(candidate, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(candidate);
  }
  return (await readKeyFile(file))!;
}

async function readKeyFile(file: string): Promise<SecretKey[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return parseKeyring(text);
  } catch (error) {
    throw new ConfigError(`Invalid configuration: SECRETS_KEY_FILE ${file}: ${(error as Error).message}`);
  }
}
