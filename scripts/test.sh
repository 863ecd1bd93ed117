#!/usr/bin/env bash
# `npm test`: make sure PostgreSQL and Redis answer, then run mocha (configured by .mocharc.json;
# tests create and drop their own databases). Extra arguments go to mocha: npm test -- --grep x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-services.sh
# --no: never download a mocha that is missing locally (no prompt, CI has no stdin).
exec npx --no -- mocha "$@"
