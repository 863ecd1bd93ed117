import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type RequestHandler } from 'express';
import helmet from 'helmet';
import { packageRoot } from '../platform/package-info.js';
import { sendProblem } from './problem.js';

export const CONSOLE_PATH = '/console';

/** Where `npm run build` puts the console (vite build --config console/vite.config.ts). */
export function builtConsoleDir(): string {
  return path.join(packageRoot() ?? process.cwd(), 'dist', 'console');
}

/**
 * The operator console's policy: everything from this origin, no inline script or style, no
 * framing. Its scripts call the API on this origin only.
 */
export const consoleContentSecurityPolicy: RequestHandler = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
});

/**
 * The console's files under /console: hashed assets (vite names them by content) kept a year,
 * index.html revalidated each time, and any other path under /console answered with index.html
 * (the console routes in the browser). Without a build, 503 CONSOLE.NOT_BUILT says how to make one.
 */
export function consoleRoutes(dir: string = builtConsoleDir()): Router {
  const router = Router();
  router.use(consoleContentSecurityPolicy);
  const index = path.join(dir, 'index.html');
  router.use((req, res, next) => {
    if (existsSync(index)) return next();
    sendProblem(res, 'CONSOLE.NOT_BUILT', `The console has not been built into ${dir}: run \`npm run build\``);
  });
  router.use(
    '/assets',
    express.static(path.join(dir, 'assets'), {
      index: false,
      fallthrough: true,
      setHeaders: (res) => res.set('Cache-Control', 'public, max-age=31536000, immutable'),
    }),
    (req, res) => sendProblem(res, 'ROUTE.NOT_FOUND', `No console asset ${req.path}`),
  );
  router.get('/{*page}', (_req, res) => {
    res.set('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}
