import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, errors, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Knex } from 'knex';
import type { Config } from '../../platform/config.js';
import { OutboundGuard } from '../../platform/outbound-guard.js';
import { ROLES, type Role } from '../principal.js';
import { SIGNING_ALGORITHM, publicJwks } from './signing-keys.js';

/** What a verified token says of its bearer. */
export interface VerifiedIdentity {
  issuer: string;
  subject: string;
  roles: Role[];
  name?: string;
  /** The token's `exp`: it stops working by itself then. */
  expiresAt?: Date;
}

/** A token that is not accepted. The reason is short and never quotes the token. */
export class TokenRejectedError extends Error {
  override readonly name = 'TokenRejectedError';
  constructor(readonly reason: string) {
    super(`token rejected: ${reason}`);
  }
}

export type TokenVerifierConfig = Pick<
  Config,
  | 'AUTH_TOKEN_ISSUER'
  | 'AUTH_TOKEN_AUDIENCE'
  | 'AUTH_CLOCK_TOLERANCE_S'
  | 'OIDC_ISSUER'
  | 'OIDC_JWKS_URL'
  | 'OUTBOUND_ALLOW_PRIVATE'
  | 'OIDC_PUBLIC_KEY'
  | 'OIDC_AUDIENCE'
  | 'OIDC_ROLES_CLAIM'
  | 'OIDC_ROLE_MAP'
  | 'OIDC_ALGORITHMS'
  | 'OIDC_NAME_CLAIM'
>;

export interface TokenVerifierOptions {
  /**
   * A token signed by a key this process has not seen reloads dealstream's keys (after a rotation
   * elsewhere), at most once per this interval (default 5 s); such a token waits for that load.
   */
  keyReloadIntervalMs?: number;
  /** Fetches the provider's JWKS; by default a guard of the process's own (OUTBOUND_ALLOW_PRIVATE). */
  outbound?: OutboundGuard;
}

/** Three base64url parts (the last empty for an unsigned token, which verify refuses): a JWT, not a `ds_` key. */
export function looksLikeJwt(credential: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(credential);
}

/** Larger than any sane token (providers with many groups reach a few kB); refused before any parsing. */
const MAX_TOKEN_CHARS = 16_384;

/** Where tokens of one issuer are checked, and how their claims become an identity. */
interface TrustSource {
  issuer: string;
  audience: string | string[];
  algorithms: string[];
  key: JWTVerifyGetKey;
  roles(payload: JWTPayload): Role[];
  name(payload: JWTPayload): string | undefined;
}

/**
 * Verifies people's tokens from two issuers: dealstream itself (keys in signing_keys) and, when
 * configured, an external OpenID Connect provider. The unverified `iss` only picks whose keys and
 * rules apply; everything is then checked against that source: signature with an allowed
 * algorithm, issuer, audience, expiry and not-before (with clock tolerance), and a subject.
 */
export class TokenVerifier {
  private readonly sources: TrustSource[];
  private readonly clockTolerance: number;

  constructor(knex: Knex, config: TokenVerifierConfig, options: TokenVerifierOptions = {}) {
    this.clockTolerance = config.AUTH_CLOCK_TOLERANCE_S;
    const own: TrustSource = {
      issuer: config.AUTH_TOKEN_ISSUER,
      audience: config.AUTH_TOKEN_AUDIENCE,
      algorithms: [SIGNING_ALGORITHM],
      key: new PublishedKeys(knex, options.keyReloadIntervalMs ?? 5000).resolve,
      roles: (payload) => rolesIn(payload.roles, {}),
      name: (payload) => nameIn(payload.name),
    };
    const outbound = () => options.outbound ?? new OutboundGuard({ allowPrivate: config.OUTBOUND_ALLOW_PRIVATE });
    this.sources = [own, ...(config.OIDC_ISSUER ? [providerSource(config as ProviderConfig, outbound())] : [])];
  }

  async verify(token: string): Promise<VerifiedIdentity> {
    if (token.length > MAX_TOKEN_CHARS || !looksLikeJwt(token)) throw new TokenRejectedError('malformed');
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new TokenRejectedError('malformed');
    }
    const source = this.sources.find((candidate) => candidate.issuer === unverified.iss);
    if (!source) throw new TokenRejectedError('unknown issuer');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, source.key, {
        issuer: source.issuer,
        audience: source.audience,
        algorithms: source.algorithms,
        clockTolerance: this.clockTolerance,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      throw new TokenRejectedError(reasonOf(error));
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) throw new TokenRejectedError('invalid sub');
    const name = source.name(payload);
    return {
      issuer: source.issuer,
      subject: payload.sub,
      roles: source.roles(payload),
      ...(name ? { name } : {}),
      expiresAt: new Date(payload.exp! * 1000),
    };
  }
}

type ProviderConfig = TokenVerifierConfig & { OIDC_ISSUER: string; OIDC_AUDIENCE: string[] };

function providerSource(config: ProviderConfig, outbound: OutboundGuard): TrustSource {
  return {
    issuer: config.OIDC_ISSUER,
    audience: config.OIDC_AUDIENCE,
    algorithms: config.OIDC_ALGORITHMS,
    // jose fetches the provider's JWKS when it first needs it, caches it, and fetches again for an
    // unknown kid (at most every 30 s): a provider's rotation is picked up by itself. Through the
    // outbound guard, as every call dealstream makes: a provider inside the network must be allowlisted.
    key: config.OIDC_JWKS_URL
      ? createRemoteJWKSet(new URL(config.OIDC_JWKS_URL), { [customFetch]: (url, { headers, method, signal }) => outbound.fetch(url, { headers: Object.fromEntries(headers), method, signal }) as unknown as Promise<Response> })
      : pemKey(config.OIDC_PUBLIC_KEY!),
    roles: (payload) => rolesIn(claimAt(payload, config.OIDC_ROLES_CLAIM), config.OIDC_ROLE_MAP),
    name: (payload) => nameIn(claimAt(payload, config.OIDC_NAME_CLAIM)) ?? nameIn(payload.preferred_username),
  };
}

/** One PEM public key, imported for each allowed algorithm a token names (jose binds a key to one). */
function pemKey(pem: string): JWTVerifyGetKey {
  const imported = new Map<string, ReturnType<typeof importSPKI>>();
  return (header) => {
    const alg = header.alg!;
    // An allowed algorithm of another key type (RS256 for an EC key) cannot use this key.
    if (!imported.has(alg)) imported.set(alg, importSPKI(pem, alg).catch(() => Promise.reject(new errors.JOSENotSupported('the key does not fit this algorithm'))));
    return imported.get(alg)!;
  };
}

/**
 * dealstream's published keys (as the JWKS route serves them), loaded on first use and again when
 * a token names a key not among them, which is how a rotation made by another process arrives.
 * Loads happen at most once per interval: a token with an unknown kid waits for the next load
 * (shared by all that wait) rather than being refused, so a key rotated just after a load is not
 * bounced, and made-up kids cost one query per interval however many arrive.
 */
class PublishedKeys {
  private keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  private loading: Promise<void> | undefined;
  private lastLoad = -Infinity;

  constructor(
    private readonly knex: Knex,
    private readonly reloadIntervalMs: number,
  ) {}

  readonly resolve: JWTVerifyGetKey = async (header, token) => {
    if (!this.keySet) await this.load();
    try {
      return await this.keySet!(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      await this.load();
      return this.keySet!(header, token);
    }
  };

  private load(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const wait = this.lastLoad + this.reloadIntervalMs - Date.now();
        if (wait > 0) await sleep(wait, undefined, { ref: false });
        this.lastLoad = Date.now();
        this.keySet = createLocalJWKSet(await publicJwks(this.knex));
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}

/** A claim by name, or else by dot path (`realm_access.roles`); own properties only. */
function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Roles from an array or a space-separated string, mapped, and only dealstream's role names kept. */
function rolesIn(claim: unknown, roleMap: Record<string, Role>): Role[] {
  const values = Array.isArray(claim) ? claim.filter((value): value is string => typeof value === 'string') : typeof claim === 'string' ? claim.split(/\s+/) : [];
  const roles = values.map((value) => (Object.hasOwn(roleMap, value) ? roleMap[value] : value)).filter((role): role is Role => (ROLES as readonly string[]).includes(role!));
  return [...new Set(roles)];
}

function nameIn(claim: unknown): string | undefined {
  if (typeof claim !== 'string') return undefined;
  const name = claim.trim();
  return name.length > 0 && name.length <= 200 && !/\p{Cc}/u.test(name) ? name : undefined;
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (error.reason === 'missing') return `no ${claim}`;
    return claim === 'aud' ? 'wrong audience' : claim === 'iss' ? 'wrong issuer' : claim === 'nbf' ? 'not yet valid' : `invalid ${claim}`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (error instanceof errors.JWKSNoMatchingKey) return 'unknown signing key';
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'ambiguous signing key';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'malformed';
  if (error instanceof errors.JOSENotSupported || error instanceof errors.JWKInvalid) return 'unusable algorithm or key';
  return 'signing keys unavailable'; // a JWKS that could not be fetched or read, or the database
}
