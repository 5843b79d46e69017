#!/usr/bin/env bash
# Make sure Redis answers on REDIS_HOST:REDIS_PORT (127.0.0.1:6379 by default) for
# scripts/cluster.sh (Rasa's lock store, the gateway's de-duplication) and its tests: used as it
# is when it answers; on this machine, otherwise, Debian's `redis-server` package is installed
# when missing and its service started (needs root, as on CI and the dev machines; Debian's
# service listens on 127.0.0.1:6379). Prints host:port; logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

# The port, and PONG to a ping when redis-cli is here (something else may hold the port).
redis_answers() { port_answers "$1" "$2" && { ! command -v redis-cli >/dev/null || redis-cli -h "$1" -p "$2" ping 2>/dev/null | grep -q PONG; }; }

ensure_service redis Redis "${REDIS_HOST:-127.0.0.1}" "${REDIS_PORT:-6379}" 6379 30 \
  redis_answers redis-server redis-server redis-tools
