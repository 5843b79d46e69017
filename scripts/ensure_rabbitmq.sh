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

# The Erlang VM takes a while: the port opens once the broker has booted (90 s at most).
ensure_service rabbitmq RabbitMQ "${RABBITMQ_HOST:-127.0.0.1}" "${RABBITMQ_PORT:-5672}" 5672 90 \
  port_answers rabbitmq-server rabbitmq-server
