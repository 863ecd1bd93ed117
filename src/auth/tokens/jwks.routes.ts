import { Router } from 'express';
import type { Knex } from 'knex';
import { publicJwks } from './signing-keys.js';

export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * dealstream's token verification keys (public parts only), for anyone: services that accept its
 * tokens verify them with these. Clients may keep them 5 minutes; a token with a kid they do not
 * know yet is their cue to fetch again. This process keeps them a few seconds, so a flood of
 * requests costs one query per interval.
 */
export function jwksRoutes(knex: Knex, cacheMs = 2000): Router {
  let cached: { at: number; body: Promise<object> } | undefined;
  const router = Router();
  router.get(JWKS_PATH, async (_req, res) => {
    if (!cached || Date.now() - cached.at >= cacheMs) {
      const body = publicJwks(knex);
      cached = { at: Date.now(), body };
      body.catch(() => {
        if (cached?.body === body) cached = undefined; // a failed read is not kept
      });
    }
    const jwks = await cached.body;
    res.set('Cache-Control', 'public, max-age=300').json(jwks);
  });
  return router;
}
