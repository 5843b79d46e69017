#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the web chat browser tests (tests/e2e), installing
# the `chromium` package when /usr/bin/chromium is missing (needs root, as on CI and the dev
# machines). The tests drive it with Playwright; `playwright install` is never needed.
# Prints the browser's path; logs go to stderr.
set -euo pipefail
CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: $CHROMIUM is missing and installing it needs root:" >&2
    echo "  sudo apt-get install chromium   (or run this script as root)" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $CHROMIUM is missing and there is no apt-get (this script expects Debian)" >&2
    exit 1
  fi
  echo "installing Chromium from Debian's packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium >&2
  if [ ! -x "$CHROMIUM" ]; then
    echo "error: the chromium package is installed but $CHROMIUM is still missing" >&2
    exit 1
  fi
fi
echo "$CHROMIUM"
