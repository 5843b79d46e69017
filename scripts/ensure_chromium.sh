#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the web chat browser tests (tests/e2e), installing
# the `chromium` package when /usr/bin/chromium is missing (needs root, as on CI and the dev
# machines). The tests drive it with Playwright; `playwright install` is never needed.
# Prints the browser's path; logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
  apt_install chromium || exit 1
  if [ ! -x "$CHROMIUM" ]; then
    echo "error: the chromium package is installed but $CHROMIUM is still missing" >&2
    exit 1
  fi
fi
echo "$CHROMIUM"
