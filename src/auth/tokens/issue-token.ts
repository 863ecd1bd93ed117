import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { Config } from '../../platform/config.js';
import type { SecretBox } from '../../platform/secret-box.js';
import { ROLES, type Role } from '../principal.js';
import { MAX_TOKEN_TTL_SECONDS, activeSigningKey } from './signing-keys.js';

export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

export interface TokenRequest {
  /** Whom the token names; for dealstream's own tokens, the principal's id. */
  subject: string;
  roles: readonly Role[];
  name?: string;
  /** 1 s to MAX_TOKEN_TTL_SECONDS (30 days); default 1 hour. */
  ttlSeconds?: number;
}

export interface IssuedToken {
  token: string;
  kid: string;
  jti: string;
  expiresAt: Date;
}

export type TokenIssuerConfig = Pick<Config, 'AUTH_TOKEN_ISSUER' | 'AUTH_TOKEN_AUDIENCE'>;

/** A request for a token that cannot be honoured; the message names the field. */
export class TokenRequestError extends Error {
  override readonly name = 'TokenRequestError';
}

const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}]+$/u, 'must not hold control characters');

const Request = z.object({
  subject: printable(255),
  roles: z.array(z.enum(ROLES)).min(1, 'at least one role'),
  name: printable(200).optional(),
  ttlSeconds: z.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS).default(DEFAULT_TOKEN_TTL_SECONDS),
});

/** Signs a token with the active signing key (made first on a fresh database). */
export async function issueToken(knex: Knex, box: SecretBox, request: TokenRequest, config: TokenIssuerConfig): Promise<IssuedToken> {
  const parsed = Request.safeParse(request);
  if (!parsed.success) throw new TokenRequestError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  const { subject, roles, name, ttlSeconds } = parsed.data;
  const key = await activeSigningKey(knex, box);
  const jti = randomUUID();
  const issuedAt = Math.floor(Date.now() / 1000);
  const expiresAt = issuedAt + ttlSeconds;
  const token = await new SignJWT({ roles: [...new Set(roles)], ...(name ? { name } : {}) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(config.AUTH_TOKEN_ISSUER)
    .setAudience(config.AUTH_TOKEN_AUDIENCE)
    .setSubject(subject)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .setJti(jti)
    .sign(key.privateKey);
  return { token, kid: key.kid, jti, expiresAt: new Date(expiresAt * 1000) };
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** A lifetime as people write it: `90s`, `15m`, `8h`, `30d`, or plain seconds. */
export function parseTtl(text: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!match) throw new TokenRequestError(`ttl: "${text}" is not a duration like 90s, 15m, 8h or 30d`);
  const seconds = Number(match[1]) * UNIT_SECONDS[(match[2] || 's') as keyof typeof UNIT_SECONDS];
  if (seconds < 1 || seconds > MAX_TOKEN_TTL_SECONDS) throw new TokenRequestError(`ttl: must be from 1 s to ${MAX_TOKEN_TTL_SECONDS / 86_400} days`);
  return seconds;
}
