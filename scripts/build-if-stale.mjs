// Runs `npm run build` when dist/ is missing or older than any source it is built from.
import { execSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const output = path.join(root, 'dist/src/cli/main.js');

function newest(entry) {
  const stat = statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(entry).map((name) => newest(path.join(entry, name))));
}

let built = 0;
try {
  built = statSync(output).mtimeMs;
} catch {
  // not built yet
}
const sources = ['src', 'console', 'migrations', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((p) => path.join(root, p));
if (built < Math.max(...sources.map(newest))) {
  execSync('npm run build', { cwd: root, stdio: 'inherit' });
}
