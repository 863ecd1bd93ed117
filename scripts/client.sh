#!/usr/bin/env bash
# The typed TypeScript client (clients/typescript) from the OpenAPI description the app serves:
#   bash scripts/client.sh generate   writes clients/typescript/openapi.json and src/schema.ts
#   bash scripts/client.sh check      fails when the committed ones differ from what would be generated
# (`npm run client:generate`, `npm run client:check`; the check is part of `npm run lint`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
client=clients/typescript
generate() { # into $1
  mkdir -p "$1/src"
  npx --no -- tsx scripts/openapi.ts "$1/openapi.json"
  npx --no -- openapi-typescript "$1/openapi.json" --output "$1/src/schema.ts" --root-types --root-types-no-schema-prefix --alphabetize --empty-objects-unknown --silent
}
case "${1:-}" in
  generate)
    generate "$client"
    ;;
  check)
    dir="$(mktemp -d)"
    trap 'rm -rf "$dir"' EXIT
    generate "$dir"
    for file in openapi.json src/schema.ts; do
      if ! diff -u "$client/$file" "$dir/$file" >"$dir/diff"; then
        head -n 60 "$dir/diff"
        echo "$client/$file is not what the description generates: run npm run client:generate and commit it" >&2
        exit 1
      fi
    done
    echo "client: $client is generated from the current description"
    ;;
  *)
    echo "usage: $0 generate|check" >&2
    exit 2
    ;;
esac
