import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Knex } from 'knex';
import type { SecretBox } from '../../platform/secret-box.js';

/** dealstream signs with ECDSA P-256: small keys and signatures, supported by every JOSE library. */
export const SIGNING_ALGORITHM = 'ES256';

/** The longest a token dealstream issues may live. */
export const MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

/**
 * A retired key stays published while tokens it signed can still verify: the longest lifetime plus
 * the largest clock tolerance the configuration allows (AUTH_CLOCK_TOLERANCE_S, at most 300 s).
 */
const PUBLISHED_AFTER_RETIREMENT_S = MAX_TOKEN_TTL_SECONDS + 300;

export interface SigningKeyInfo {
  kid: string;
  alg: typeof SIGNING_ALGORITHM;
  createdAt: Date;
}

export interface SigningKey extends SigningKeyInfo {
  privateKey: CryptoKey;
}

/** A verification key as the JWKS publishes it: public parameters only. */
export type PublicJwk = JWK & { kid: string; alg: string; use: 'sig' };

interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: JWK;
  private_key: string;
  created_at: Date;
  retired_at: Date | null;
}

/**
 * The active key, made on first start if there is none. Processes starting together each make one
 * and insert it, but the index that allows one active key keeps the first; the others use it.
 */
export async function ensureSigningKey(knex: Knex, box: SecretBox): Promise<SigningKeyInfo> {
  const active = await activeRow(knex);
  if (active) return infoOf(active);
  const row = await newKeyRow(box);
  await knex.raw('INSERT INTO signing_keys (kid, alg, public_jwk, private_key) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', [
    row.kid,
    row.alg,
    JSON.stringify(row.public_jwk),
    row.private_key,
  ]);
  return infoOf((await activeRow(knex))!);
}

/**
 * Makes a new key active and retires the one before, which stays published until the tokens it
 * signed have expired. Rotations queue behind each other (a transaction-scoped advisory lock), so
 * two at once make two keys in turn rather than a conflict.
 */
export async function rotateSigningKey(knex: Knex, box: SecretBox): Promise<{ active: SigningKeyInfo; retired: string[] }> {
  const row = await newKeyRow(box);
  return knex.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(4242, hashtext(?))', ['signing-keys']);
    const retired: { kid: string }[] = await trx('signing_keys').whereNull('retired_at').update({ retired_at: trx.fn.now() }).returning('kid');
    const [inserted] = await trx('signing_keys').insert({ ...row, public_jwk: JSON.stringify(row.public_jwk) }).returning('*');
    return { active: infoOf(inserted as SigningKeyRow), retired: retired.map((r) => r.kid) };
  });
}

/** The active key with its private half, for signing (made first if there is none). */
export async function activeSigningKey(knex: Knex, box: SecretBox): Promise<SigningKey> {
  const { kid } = await ensureSigningKey(knex, box);
  const row: SigningKeyRow = await knex('signing_keys').where({ kid }).first();
  const privateKey = (await importJWK(JSON.parse(box.decrypt(row.private_key)) as JWK, SIGNING_ALGORITHM)) as CryptoKey;
  return { ...infoOf(row), privateKey };
}

/** Re-encrypts, under the box's current key, every private key sealed under an older one; returns how many. */
export async function reencryptSigningKeys(knex: Knex, box: SecretBox): Promise<number> {
  const rows: { kid: string; private_key: string }[] = await knex('signing_keys').select('kid', 'private_key');
  let changed = 0;
  for (const row of rows.filter((each) => box.isStale(each.private_key))) {
    changed += await knex('signing_keys').where(row).update({ private_key: box.encrypt(box.decrypt(row.private_key)) });
  }
  return changed;
}

/** The keys tokens may be verified with: the active one and those retired recently enough. Newest first. */
export async function publicJwks(knex: Knex): Promise<{ keys: PublicJwk[] }> {
  const rows: SigningKeyRow[] = await knex('signing_keys')
    .select('kid', 'alg', 'public_jwk')
    .whereNull('retired_at')
    .orWhereRaw('retired_at > now() - make_interval(secs => ?)', [PUBLISHED_AFTER_RETIREMENT_S])
    .orderBy('created_at', 'desc');
  return { keys: rows.map((row) => ({ ...publicPart(row.public_jwk), kid: row.kid, alg: row.alg, use: 'sig' })) };
}

async function activeRow(knex: Knex): Promise<SigningKeyRow | undefined> {
  return knex('signing_keys').whereNull('retired_at').first();
}

async function newKeyRow(box: SecretBox): Promise<Omit<SigningKeyRow, 'created_at' | 'retired_at'>> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const publicJwk = publicPart(await exportJWK(publicKey));
  // The kid is the key's own thumbprint (RFC 7638): unique without coordination, and checkable.
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, alg: SIGNING_ALGORITHM, public_jwk: publicJwk, private_key: box.encrypt(JSON.stringify(await exportJWK(privateKey))) };
}

/** Only an EC public key's parameters, whatever else a JWK carries. */
function publicPart({ kty, crv, x, y }: JWK): JWK {
  return { kty, crv, x, y };
}

function infoOf(row: SigningKeyRow): SigningKeyInfo {
  return { kid: row.kid, alg: row.alg as typeof SIGNING_ALGORITHM, createdAt: row.created_at };
}
