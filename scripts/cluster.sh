#!/usr/bin/env bash
# The production topology (docs/deployment.md) on this machine, for testing, without containers:
#
#   scripts/cluster.sh [N]     (`make run-cluster`; N Rasa replicas, 2 by default)
#
# Every process listens on 127.0.0.1 only (each port can be moved by its variable):
#   nginx, public   PUBLIC_PORT (5005): /webhooks/whatsapp/webhook -> the gateway;
#                   /webchat/, /socket.io/ -> the replicas, sticky by client address
#   gateway         GATEWAY_PORT (5080): python -m cobranza.channels.whatsapp.gateway
#   nginx, private  INTERNAL_PORT (5090): the gateway's forwards by X-Cobranza-Route (consistent
#                   hash, a webhook POST without it refused), the console's Rasa API calls
#   replica i       Rasa on REPLICA_PORT_BASE+i (5100+i), COBRANZA_REPLICA=rasa-<i>, one Sanic
#                   worker; its action server on ACTIONS_PORT_BASE+i (5200+i)
#   console         CONSOLE_PORT (5006)
#   no port         one outreach worker (OUTREACH_WORKER=off leaves it out), the events consumer
# on PostgreSQL (DATABASE_URL; unset: the database cobranza_cluster on the server
# scripts/ensure_postgres.sh starts, migrated and seeded with the demo portfolio), Redis
# (REDIS_HOST:REDIS_PORT) and RabbitMQ (RABBITMQ_*), started from Debian's packages when they
# do not answer (scripts/ensure_redis.sh, scripts/ensure_rabbitmq.sh; nginx: ensure_nginx.sh).
#
# The replicas and the gateway need WHATSAPP_VERIFY_TOKEN, WHATSAPP_APP_SECRET,
# WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_API_URL (README: Connecting a
# WhatsApp Business number; tests point the API URL at cobranza/simulation/fake_graph.py).
#
# Logs and pid files: CLUSTER_RUN_DIR (var/cluster), one <name>.log and <name>.pid per process
# (rasa-0, actions-0, ..., gateway, nginx, console, outreach, events); nginx's own logs are
# nginx.log and nginx-access.log. A replica's Rasa or action server that exits is started again
# under the same name (its pid file rewritten); any other process exiting stops everything.
#
# Stop it with Ctrl-C, or `kill $(cat var/cluster/cluster.pid)` (SIGTERM): every process is
# stopped (SIGTERM, then SIGKILL after 30 s), nothing is left running.
#
# `scripts/cluster.sh --nginx-config [N]` prints the nginx configuration it would use and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
. scripts/common.sh

print_config_only=
if [ "${1:-}" = "--nginx-config" ]; then
  print_config_only=1
  shift
fi
REPLICAS=${1:-2}
if ! [[ "$REPLICAS" =~ ^[1-9][0-9]?$ ]]; then
  echo "error: the number of replicas must be 1 to 99, got '$REPLICAS'" >&2
  exit 2
fi
MODEL=${RASA_MODEL:-models/cobranza.tar.gz}
RUN_DIR=${CLUSTER_RUN_DIR:-var/cluster}
PUBLIC_PORT=${PUBLIC_PORT:-5005}
GATEWAY_PORT=${GATEWAY_PORT:-5080}
INTERNAL_PORT=${INTERNAL_PORT:-5090}
REPLICA_PORT_BASE=${REPLICA_PORT_BASE:-5100}
ACTIONS_PORT_BASE=${ACTIONS_PORT_BASE:-5200}
CONSOLE_PORT=${CONSOLE_PORT:-5006}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
RABBITMQ_HOST=${RABBITMQ_HOST:-127.0.0.1}
RABBITMQ_PORT=${RABBITMQ_PORT:-5672}
RABBITMQ_USERNAME=${RABBITMQ_USERNAME:-guest}
RABBITMQ_PASSWORD=${RABBITMQ_PASSWORD:-guest}
RASA_EVENTS_EXCHANGE=${RASA_EVENTS_EXCHANGE:-rasa-exchange}
RASA_EVENTS_QUEUE=${RASA_EVENTS_QUEUE:-rasa_events}
LOCK_KEY_PREFIX=${LOCK_KEY_PREFIX:-cobranza}
TICKET_LOCK_LIFETIME=${TICKET_LOCK_LIFETIME:-30}
GATEWAY_DEDUP_TTL_HOURS=${GATEWAY_DEDUP_TTL_HOURS:-168}
GATEWAY_MODULE=cobranza.channels.whatsapp.gateway
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONTZPATH=
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)

nginx_config() {
  local servers="" i
  for ((i = 0; i < REPLICAS; i++)); do
    servers+="        server 127.0.0.1:$((REPLICA_PORT_BASE + i)) max_fails=1 fail_timeout=10s;"$'\n'
  done
  servers=${servers%$'\n'}
  local text
  text=$(<scripts/cluster/nginx.conf.in)
  text=${text//@REPLICA_SERVERS@/$servers}
  text=${text//@RUN_DIR@/$RUN_DIR}
  text=${text//@PUBLIC_PORT@/$PUBLIC_PORT}
  text=${text//@INTERNAL_PORT@/$INTERNAL_PORT}
  text=${text//@GATEWAY_PORT@/$GATEWAY_PORT}
  printf '%s\n' "$text"
}
if [ -n "$print_config_only" ]; then
  nginx_config
  exit 0
fi

fail() {
  echo "error: $*" >&2
  exit 1
}

# --- Checks before anything starts ---------------------------------------------------------
[ -x "$BIN/rasa" ] || fail ".venv is missing; run 'make run-cluster' (it installs everything)"
[ -f "$MODEL" ] || fail "no model at $MODEL; run 'make run-cluster' or 'make train'"
if [ -s "$RUN_DIR/cluster.pid" ] && kill -0 "$(cat "$RUN_DIR/cluster.pid")" 2>/dev/null; then
  fail "a cluster already runs from $RUN_DIR (pid $(cat "$RUN_DIR/cluster.pid")): stop it first"
fi
missing=()
for name in WHATSAPP_VERIFY_TOKEN WHATSAPP_APP_SECRET WHATSAPP_ACCESS_TOKEN WHATSAPP_PHONE_NUMBER_ID WHATSAPP_API_URL; do
  [ -n "${!name:-}" ] || missing+=("$name")
done
[ "${#missing[@]}" = 0 ] || fail "the replicas' WhatsApp channel needs ${missing[*]}" \
  "(README: Connecting a WhatsApp Business number; a fake Graph API will do for testing)"
ports=("$PUBLIC_PORT" "$INTERNAL_PORT" "$CONSOLE_PORT" "$GATEWAY_PORT")
for ((i = 0; i < REPLICAS; i++)); do ports+=("$((REPLICA_PORT_BASE + i))" "$((ACTIONS_PORT_BASE + i))"); done
for port in "${ports[@]}"; do
  ! port_answers 127.0.0.1 "$port" || fail "port $port on 127.0.0.1 is already in use"
done
if [ -n "$(printf '%s\n' "${ports[@]}" | sort | uniq -d)" ]; then
  fail "two processes would share a port: ${ports[*]}"
fi

# --- Services ------------------------------------------------------------------------------
NGINX=$(scripts/ensure_nginx.sh)
REDIS_HOST=$REDIS_HOST REDIS_PORT=$REDIS_PORT scripts/ensure_redis.sh >/dev/null
RABBITMQ_HOST=$RABBITMQ_HOST RABBITMQ_PORT=$RABBITMQ_PORT scripts/ensure_rabbitmq.sh >/dev/null

# --- The database --------------------------------------------------------------------------
made_database=
if [ -z "${DATABASE_URL:-}" ]; then
  admin_url=$(scripts/ensure_postgres.sh)
  DATABASE_URL="${admin_url%/*}/cobranza_cluster"
  "$BIN/python" - "$admin_url" <<'EOF'
import sys

import sqlalchemy as sa

engine = sa.create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with engine.connect() as connection:
    found = connection.execute(
        sa.text("SELECT 1 FROM pg_database WHERE datname = 'cobranza_cluster'")
    ).first()
    if not found:
        print("creating the database cobranza_cluster...", file=sys.stderr)
        connection.execute(sa.text("CREATE DATABASE cobranza_cluster"))
engine.dispose()
EOF
  made_database=1
fi
case "$DATABASE_URL" in
  postgresql://* | postgresql+*://*) ;;
  *) fail "DATABASE_URL must be a PostgreSQL URL: several processes share it" ;;
esac
export DATABASE_URL
echo "migrating the database..." >&2
"$BIN/cobranza" db upgrade >&2
if [ -n "$made_database" ]; then
  "$BIN/cobranza" seed >&2
fi

# --- Secrets (from the environment, else var/<name>, as scripts/run.sh) --------------------
RASA_API_TOKEN=${RASA_API_TOKEN:-$(token_file rasa_api_token)}
ACTION_SERVER_TOKEN=${ACTION_SERVER_TOKEN:-$(token_file action_server_token)}
WEBCHAT_SESSION_SECRET=${WEBCHAT_SESSION_SECRET:-$(token_file webchat_session_secret)}
EVENTS_SENDER_KEY=${EVENTS_SENDER_KEY:-$(token_file events_sender_key)}
# Each process gets only the secrets it needs (docs/security.md): these are removed first.
SECRETS=(RASA_API_TOKEN ACTION_SERVER_TOKEN WEBCHAT_SESSION_SECRET EVENTS_SENDER_KEY
  WHATSAPP_VERIFY_TOKEN WHATSAPP_APP_SECRET WHATSAPP_ACCESS_TOKEN RABBITMQ_PASSWORD PAYMENTS_API_TOKEN)
unset_secrets=()
for name in "${SECRETS[@]}"; do unset_secrets+=(-u "$name"); done

# Rasa's body bound (RASA_MAX_REQUEST_BYTES) as Sanic settings, as scripts/run.sh.
rasa_env_line=$("$BIN/python" -m cobranza.action_server --rasa-env)
read -r -a rasa_env <<<"$rasa_env_line"

mkdir -p "$RUN_DIR/nginx"
nginx_config >"$RUN_DIR/nginx/nginx.conf"
"$NGINX" -t -q -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/nginx.conf" -e "$RUN_DIR/nginx.log" ||
  fail "nginx refuses $RUN_DIR/nginx/nginx.conf (see $RUN_DIR/nginx.log)"

# --- The processes -------------------------------------------------------------------------
declare -A pid_of started_at delay
stopping=

# launch NAME COMMAND...: in the background, output appended to NAME.log, pid in NAME.pid.
launch() {
  local name=$1
  shift
  echo "--- $(date -u +%FT%TZ) starting $name" >>"$RUN_DIR/$name.log"
  "$@" >>"$RUN_DIR/$name.log" 2>&1 &
  pid_of[$name]=$!
  started_at[$name]=$SECONDS
  echo "$!" >"$RUN_DIR/$name.pid"
}

start_actions() {
  launch "actions-$1" env "${unset_secrets[@]}" ACTION_SERVER_TOKEN="$ACTION_SERVER_TOKEN" \
    ACTIONS_HOST=127.0.0.1 ACTIONS_PORT=$((ACTIONS_PORT_BASE + $1)) \
    "$BIN/python" -m cobranza.action_server
}

start_rasa() {
  local port=$((REPLICA_PORT_BASE + $1))
  launch "rasa-$1" env "${unset_secrets[@]}" "${rasa_env[@]}" \
    COBRANZA_REPLICA="rasa-$1" SANIC_WORKERS=1 SANIC_PROXIES_COUNT=1 \
    ACTIONS_PORT=$((ACTIONS_PORT_BASE + $1)) ACTION_SERVER_TOKEN="$ACTION_SERVER_TOKEN" \
    RASA_API_TOKEN="$RASA_API_TOKEN" WEBCHAT_SESSION_SECRET="$WEBCHAT_SESSION_SECRET" \
    WHATSAPP_VERIFY_TOKEN="$WHATSAPP_VERIFY_TOKEN" WHATSAPP_APP_SECRET="$WHATSAPP_APP_SECRET" \
    WHATSAPP_ACCESS_TOKEN="$WHATSAPP_ACCESS_TOKEN" \
    REDIS_HOST="$REDIS_HOST" REDIS_PORT="$REDIS_PORT" LOCK_KEY_PREFIX="$LOCK_KEY_PREFIX" \
    WEBCHAT_REDIS_URL="redis://$REDIS_HOST:$REDIS_PORT/0" \
    TICKET_LOCK_LIFETIME="$TICKET_LOCK_LIFETIME" \
    RABBITMQ_HOST="$RABBITMQ_HOST" RABBITMQ_PORT="$RABBITMQ_PORT" \
    RABBITMQ_USERNAME="$RABBITMQ_USERNAME" RABBITMQ_PASSWORD="$RABBITMQ_PASSWORD" \
    RASA_EVENTS_EXCHANGE="$RASA_EVENTS_EXCHANGE" RASA_EVENTS_QUEUE="$RASA_EVENTS_QUEUE" \
    "$BIN/rasa" run --model "$MODEL" --interface 127.0.0.1 --port "$port" \
    --credentials credentials.whatsapp.yml --endpoints endpoints.cluster.yml \
    --cors "http://localhost:$PUBLIC_PORT" --enable-api --auth-token="$RASA_API_TOKEN"
}

start_gateway() {
  launch gateway env "${unset_secrets[@]}" -u DATABASE_URL \
    WHATSAPP_VERIFY_TOKEN="$WHATSAPP_VERIFY_TOKEN" WHATSAPP_APP_SECRET="$WHATSAPP_APP_SECRET" \
    GATEWAY_HOST=127.0.0.1 GATEWAY_PORT="$GATEWAY_PORT" \
    GATEWAY_UPSTREAM_URL="http://127.0.0.1:$INTERNAL_PORT/webhooks/whatsapp/webhook" \
    GATEWAY_REDIS_URL="redis://$REDIS_HOST:$REDIS_PORT/0" \
    GATEWAY_DEDUP_TTL_HOURS="$GATEWAY_DEDUP_TTL_HOURS" \
    "$BIN/python" -m "$GATEWAY_MODULE"
}

start_nginx() {
  launch nginx "$NGINX" -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/nginx.conf" \
    -e "$RUN_DIR/nginx.log" -g 'daemon off;'
}

start_console() {
  local payments=()
  [ -z "${PAYMENTS_API_TOKEN:-}" ] || payments=(PAYMENTS_API_TOKEN="$PAYMENTS_API_TOKEN")
  launch console env "${unset_secrets[@]}" RASA_API_TOKEN="$RASA_API_TOKEN" "${payments[@]}" \
    CONSOLE_HOST=127.0.0.1 CONSOLE_PORT="$CONSOLE_PORT" RASA_URL="http://127.0.0.1:$INTERNAL_PORT" \
    "$BIN/python" -m cobranza.console
}

start_outreach() {
  launch outreach env "${unset_secrets[@]}" WHATSAPP_ACCESS_TOKEN="$WHATSAPP_ACCESS_TOKEN" \
    WHATSAPP_VERIFY_TOKEN="$WHATSAPP_VERIFY_TOKEN" WHATSAPP_APP_SECRET="$WHATSAPP_APP_SECRET" \
    "$BIN/python" -m cobranza.outreach
}

start_events() {
  launch events env "${unset_secrets[@]}" EVENTS_SENDER_KEY="$EVENTS_SENDER_KEY" \
    RABBITMQ_HOST="$RABBITMQ_HOST" RABBITMQ_PORT="$RABBITMQ_PORT" \
    RABBITMQ_USERNAME="$RABBITMQ_USERNAME" RABBITMQ_PASSWORD="$RABBITMQ_PASSWORD" \
    RASA_EVENTS_QUEUE="$RASA_EVENTS_QUEUE" \
    "$BIN/python" -m cobranza.events
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

stop() {
  trap - INT TERM EXIT
  stopping=1
  local pid name waited=0
  for pid in "${pid_of[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  while :; do
    local left=()
    for name in "${!pid_of[@]}"; do alive "${pid_of[$name]}" && left+=("$name"); done
    [ "${#left[@]}" = 0 ] && break
    if [ "$waited" -ge 60 ]; then
      echo "still running after 30 s, killed: ${left[*]}" >&2
      for name in "${left[@]}"; do kill -KILL "${pid_of[$name]}" 2>/dev/null || true; done
      break
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  wait 2>/dev/null || true
  for name in "${!pid_of[@]}"; do rm -f "$RUN_DIR/$name.pid"; done
  rm -f "$RUN_DIR/cluster.pid"
  echo "cluster stopped" >&2
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'status=$?; [ -n "$stopping" ] || stop; exit $status' EXIT
echo "$$" >"$RUN_DIR/cluster.pid"

launched=$SECONDS
for ((i = 0; i < REPLICAS; i++)); do
  start_actions "$i"
  start_rasa "$i"
done
start_gateway
start_nginx
start_console
[ "${OUTREACH_WORKER:-on}" = off ] || start_outreach
start_events

echo "Starting $REPLICAS replicas (Rasa on 127.0.0.1:$REPLICA_PORT_BASE.., actions on" \
  "127.0.0.1:$ACTIONS_PORT_BASE..), nginx (public http://127.0.0.1:$PUBLIC_PORT, private" \
  "127.0.0.1:$INTERNAL_PORT), the gateway on 127.0.0.1:$GATEWAY_PORT," \
  "the console on http://127.0.0.1:$CONSOLE_PORT/,$([ "${OUTREACH_WORKER:-on}" = off ] || echo " the outreach worker") and the events consumer;" \
  "logs in $RUN_DIR. Ctrl-C stops everything."

# Whether every server answers on its port: printed once, with the time it took.
ready() {
  local port
  for port in "${ports[@]}"; do port_answers 127.0.0.1 "$port" || return 1; done
}

# --- Supervision: a replica's process that exits is started again under its name ----------
announced=
while :; do
  for name in "${!pid_of[@]}"; do
    alive "${pid_of[$name]}" && continue
    status=0
    wait "${pid_of[$name]}" 2>/dev/null || status=$?
    # Ctrl-C in a terminal reaches every process of the group at once, and nginx (or Rasa) may
    # be gone before this script's trap has run: a moment's wait lets a pending trap stop all.
    sleep 0.5 &
    wait $! || true
    case "$name" in
      rasa-* | actions-*)
        lived=$((SECONDS - started_at[$name]))
        # Back-off for a process that dies soon after starting (RabbitMQ down, a bad setting).
        if [ "$lived" -lt 60 ]; then delay[$name]=$((${delay[$name]:-1} * 2)); else delay[$name]=2; fi
        [ "${delay[$name]}" -le 30 ] || delay[$name]=30
        echo "$name exited (status $status) after ${lived} s; starting it again in ${delay[$name]} s" >&2
        sleep "${delay[$name]}" &
        wait $! || true
        index=${name#*-}
        if [ "${name%%-*}" = rasa ]; then start_rasa "$index"; else start_actions "$index"; fi
        ;;
      *)
        echo "$name exited (status $status): stopping the cluster (see $RUN_DIR/$name.log)" >&2
        exit 1
        ;;
    esac
  done
  if [ -z "$announced" ] && ready; then
    announced=1
    echo "cluster ready: every port answers $((SECONDS - launched)) s after the start" >&2
  fi
  sleep 1 &
  wait $! || true
done
