#!/usr/bin/env bash
# `npm run lint:openapi`: the served OpenAPI description (written by scripts/openapi.ts as the app
# builds it, no service needed), linted by Redocly with redocly.yaml. Any problem fails it, warnings
# too (redocly itself fails only on errors).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
npx --no -- tsx scripts/openapi.ts "$dir/openapi.json"
# No telemetry, no update check: the linter runs offline, as CI does.
redocly() { REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --no -- redocly "$@"; }
redocly lint --config redocly.yaml --format json "$dir/openapi.json" >"$dir/lint.json" 2>"$dir/lint.log" || true
if ! node -e '
  const { totals } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`redocly lint: ${totals.errors} errors, ${totals.warnings} warnings, ${totals.ignored} ignored`);
  process.exit(totals.errors + totals.warnings + totals.ignored === 0 ? 0 : 1);
' "$dir/lint.json"; then
  redocly lint --config redocly.yaml --max-problems 1000 "$dir/openapi.json" || true
  exit 1
fi
