import cors from 'cors';
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * helmet on every response (nosniff, HSTS, no referrer, cross-origin isolation headers and the
 * rest of its defaults) with the policy API answers need: JSON and problem documents load
 * nothing and are framed by no one. Pages that load things (/docs, the queue dashboard) replace
 * the policy with their own below; X-Frame-Options DENY stays for browsers without CSP.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] } },
    xFrameOptions: { action: 'deny' },
  });
}

/**
 * Swagger UI: its scripts, styles and images come from /docs itself (the OpenAPI document is in
 * its init script), its stylesheets and components use inline styles, its icons are data: URLs, and
 * "try it out" calls the API on this origin. No upgrade-insecure-requests: the page must also work
 * over plain http on a developer's machine.
 */
export const docsContentSecurityPolicy: RequestHandler = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
});

/**
 * The queue dashboard (bull-board): its bundle and styles from its own static path, inline
 * styles, its favicon as data: URLs; its web fonts come from Google Fonts as its page asks.
 * Never framed: it acts with an admin's credentials.
 */
export const dashboardContentSecurityPolicy: RequestHandler = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'", 'https://fonts.googleapis.com'],
    fontSrc: ["'self'", 'https://fonts.gstatic.com'],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
});

/** API and health answers are about now, and may hold what one caller may see: no cache keeps them. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};

/**
 * CORS for the listed browser origins only; without any, no CORS headers at all (browsers then keep
 * other origins' pages from reading answers). Credentials travel in Authorization, never cookies.
 */
export function corsFor(origins: readonly string[]): RequestHandler | undefined {
  if (origins.length === 0) return undefined;
  return cors({
    origin: [...origins],
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'Idempotency-Key', 'Last-Event-ID', 'X-Position'],
    exposedHeaders: ['ETag', 'Location', 'Retry-After', 'RateLimit', 'RateLimit-Policy', 'X-Stale'],
    maxAge: 600,
  });
}
