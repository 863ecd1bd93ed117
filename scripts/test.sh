#!/usr/bin/env bash
# `npm test`: make sure PostgreSQL and Redis answer, then run mocha (set up by .mocharc.json; tests
# create and drop their own databases). With no spec files among the arguments it runs everything:
# the whole suite, then the pipeline tests (commands, projections, queries, workers, audit,
# integrations, principals) and the fuzz suite once more on the EventStoreDB adapter over its protocol double. `npm test -- --grep x` filters both runs;
# `npm test -- test/some.spec.ts` runs that file alone (TEST_EVENT_STORE=eventstoredb for the double).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-services.sh
# --no: never download a mocha that is missing locally (no prompt, CI has no stdin).
mocha() { npx --no -- mocha "$@"; }

for arg in "$@"; do
  if [[ $arg == *.spec.ts || $arg == test/* ]]; then
    mocha "$@"
    exit
  fi
done
mocha 'test/**/*.spec.ts' "$@"
# Specs that never touch the store (projection specs apply events directly; pure units) run once.
TEST_EVENT_STORE=eventstoredb mocha 'test/{commands,projections,queries,workers,audit,integrations,principals,fuzz}/**/*.spec.ts' \
  --ignore 'test/projections/*.projection.int.spec.ts' --ignore 'test/audit/chain-verification.spec.ts' --ignore 'test/fuzz/fuzz-checks.spec.ts' "$@"
