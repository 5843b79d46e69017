#!/usr/bin/env bash
# Make sure Redis answers on REDIS_HOST:REDIS_PORT (127.0.0.1:6379 by default) for
# scripts/cluster.sh (Rasa's lock store, the gateway's de-duplication) and its tests: used as it
# is when it answers; on this machine, otherwise, Debian's `redis-server` package is installed
# when missing and its service started (needs root, as on CI and the dev machines; Debian's
# service listens on 127.0.0.1:6379). Prints host:port; logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}

answers() { port_answers "$host" "$port" && { ! command -v redis-cli >/dev/null || redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; }; }

if answers; then
  echo "redis: answering on $host:$port" >&2
else
  if ! is_loopback "$host"; then
    echo "error: nothing answers as Redis on $host:$port, and that is not this machine" >&2
    exit 1
  fi
  if [ "$port" != 6379 ]; then
    echo "error: nothing answers as Redis on $host:$port; Debian's service listens on 6379 only" >&2
    exit 1
  fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server redis-tools
  start_service redis-server
  if ! wait_port "$host" "$port" 30 || ! answers; then
    echo "error: the redis-server service started but nothing answers on $host:$port" >&2
    exit 1
  fi
  echo "redis: started, answering on $host:$port" >&2
fi
echo "$host:$port"
