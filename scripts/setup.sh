#!/usr/bin/env bash
# The one command for a fresh Debian/Ubuntu machine with Node 20: makes sure PostgreSQL and
# Redis run, installs dependencies, builds, then migrates and starts every role (`dealstream all`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." # repo root, wherever we were called from

step() { echo "setup: $*" >&2; }

# package.json "engines" asks for node >= 20.19.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  step "Node.js >= 20.19 with npm is required but was not found; install Node 20 LTS (https://nodejs.org/en/download) and rerun"
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  step "Node.js >= 20.19 is required, found $(node --version); upgrade Node (https://nodejs.org/en/download) and rerun"
  exit 1
fi

step "checking PostgreSQL and Redis"
bash scripts/ensure-services.sh

step "installing dependencies"
if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

step "building"
npm run build

step "migrating and starting dealstream (all roles) on port ${PORT:-3000}"
exec node bin/dealstream.js all
