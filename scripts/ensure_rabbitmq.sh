#!/usr/bin/env bash
# Make sure RabbitMQ answers on RABBITMQ_HOST:RABBITMQ_PORT (127.0.0.1:5672 by default) for
# scripts/cluster.sh (Rasa's event broker, the events consumer) and its tests: used as it is
# when it answers; on this machine, otherwise, Debian's `rabbitmq-server` package is installed
# when missing and its service started (needs root, as on CI and the dev machines; its guest
# user may log in from loopback only, which is where everything of ours runs). Prints
# host:port; logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
host=${RABBITMQ_HOST:-127.0.0.1}
port=${RABBITMQ_PORT:-5672}

if port_answers "$host" "$port"; then
  echo "rabbitmq: answering on $host:$port" >&2
else
  if ! is_loopback "$host"; then
    echo "error: nothing answers as RabbitMQ on $host:$port, and that is not this machine" >&2
    exit 1
  fi
  if [ "$port" != 5672 ]; then
    echo "error: nothing answers as RabbitMQ on $host:$port; Debian's service listens on 5672" >&2
    exit 1
  fi
  command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
  start_service rabbitmq-server
  # The Erlang VM takes a while: the port opens once the broker has booted.
  if ! wait_port "$host" "$port" 90; then
    echo "error: the rabbitmq-server service started but nothing answers on $host:$port" >&2
    exit 1
  fi
  echo "rabbitmq: started, answering on $host:$port" >&2
fi
echo "$host:$port"
