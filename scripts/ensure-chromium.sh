#!/usr/bin/env bash
# The console's end-to-end test drives Debian's headless Chromium (/usr/bin/chromium) through
# playwright-core. Installs the `chromium` package when it is missing and this runs as root (CI);
# otherwise says what to install and exits non-zero (the spec then skips with a message).
set -euo pipefail
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}

if [[ -x $CHROMIUM ]]; then
  echo "chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "chromium: missing, installing Debian's chromium package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  echo "chromium: $("$CHROMIUM" --version)"
  exit 0
fi
echo "chromium: $CHROMIUM is missing; install Debian's chromium package (sudo apt-get install chromium)," >&2
echo "or set CHROMIUM_PATH to a Chromium binary. Without it the console's end-to-end test is skipped." >&2
exit 1
