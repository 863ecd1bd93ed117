import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';
import { looksLikeApiKey, principalForKey } from './api-keys.js';
import type { AuthChanges } from './auth-changes.js';
import type { Principal } from './principal.js';

export interface Authenticated {
  principal: Principal;
  /** When the credential stops working by itself; null: never. */
  expiresAt: Date | null;
}

/** Checks a token (a JWT) and finds the person it names; undefined when it is not accepted. */
export type TokenCheck = (token: string) => Promise<Authenticated | undefined>;

export interface AuthenticatorOptions {
  knex: Knex;
  /** Announcements of revocations and other changes; without them every request is checked afresh. */
  changes?: AuthChanges;
  /** How long a checked credential is trusted while announcements arrive (0: check every request). */
  cacheMs?: number;
  tokens?: TokenCheck;
}

/**
 * Turns a credential (an API key or a token) into the principal it speaks for. A checked credential
 * is remembered only while this process hears every change to principals and keys (AuthChanges):
 * any announcement forgets everything, so a revocation holds on the next request here too.
 */
export class Authenticator {
  private readonly cache: LRUCache<string, Authenticated> | undefined;
  private readonly cacheMs: number;
  /** Counts announcements, so a check that raced one is not remembered. */
  private epoch = 0;

  constructor(private readonly options: AuthenticatorOptions) {
    this.cacheMs = options.cacheMs ?? 5000;
    this.cache = this.cacheMs > 0 && options.changes ? new LRUCache({ max: 10_000, ttl: this.cacheMs }) : undefined;
    options.changes?.onChange(() => {
      this.epoch++;
      this.cache?.clear();
    });
  }

  async authenticate(credential: string): Promise<Principal | undefined> {
    const trusting = this.cache && this.options.changes?.listening;
    const id = trusting ? createHash('sha256').update(credential).digest('base64url') : '';
    const remembered = trusting ? this.cache!.get(id) : undefined;
    if (remembered && !isExpired(remembered)) return remembered.principal;

    const epoch = this.epoch;
    const found = looksLikeApiKey(credential) ? await principalForKey(this.options.knex, credential) : await this.options.tokens?.(credential);
    if (found && trusting && epoch === this.epoch) {
      const left = found.expiresAt ? found.expiresAt.getTime() - Date.now() : this.cacheMs;
      if (left > 0) this.cache!.set(id, found, { ttl: Math.min(this.cacheMs, left) });
    }
    return found && !isExpired(found) ? found.principal : undefined;
  }
}

function isExpired(authenticated: Authenticated): boolean {
  return authenticated.expiresAt !== null && authenticated.expiresAt.getTime() <= Date.now();
}
