#!/usr/bin/env node
// The dealstream executable runs the compiled CLI; `npm start` builds it when the sources changed.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('dealstream: not built yet; run `npm run build` (npm start does it for you)\n');
  process.exit(1);
}
await import(entry.href);
