#!/usr/bin/env bash
# Start the action server (port 5055), the Rasa server (port 5005: REST, web chat), the agents'
# console (port 5006) and the outreach worker (campaigns, reconciliation; no port) in the
# foreground, each server on 127.0.0.1 unless ACTIONS_HOST, RASA_HOST or CONSOLE_HOST says
# otherwise. Ctrl-C (or any of them exiting) stops all four. `make run` prepares everything first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
MODEL=${RASA_MODEL:-models/cobranza.tar.gz}
ACTIONS_HOST=${ACTIONS_HOST:-127.0.0.1}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
RASA_HOST=${RASA_HOST:-127.0.0.1}
RASA_PORT=${RASA_PORT:-5005}
CONSOLE_HOST=${CONSOLE_HOST:-127.0.0.1}
CONSOLE_PORT=${CONSOLE_PORT:-5006}
ENDPOINTS=${RASA_ENDPOINTS:-endpoints.yml}  # reads ACTIONS_PORT and ACTION_SERVER_TOKEN
CREDENTIALS=${RASA_CREDENTIALS:-credentials.yml}  # credentials.whatsapp.yml adds WhatsApp
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONTZPATH=


[ -x "$BIN/rasa" ] || { echo "error: .venv is missing; run 'make run' (it installs everything)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "error: no model at $MODEL; run 'make run' or 'make train'" >&2; exit 1; }

# Secrets only our servers hold: from the environment, else var/<name> (token_file, created
# once, 64 hex characters, readable by this user only).
. scripts/common.sh
# Rasa's HTTP API (trackers, events) is on, behind a token the console holds.
RASA_API_TOKEN=${RASA_API_TOKEN:-$(token_file rasa_api_token)}
# Only Rasa may call the action server: endpoints.yml hands it this token.
ACTION_SERVER_TOKEN=${ACTION_SERVER_TOKEN:-$(token_file action_server_token)}
export RASA_API_TOKEN ACTION_SERVER_TOKEN ACTIONS_HOST ACTIONS_PORT RASA_PORT CONSOLE_HOST CONSOLE_PORT

# Rasa's body bound (RASA_MAX_REQUEST_BYTES, checked in cobranza/config.py) as Sanic settings;
# a bad setting stops everything here, with its name.
rasa_env_line=$("$BIN/python" -m cobranza.action_server --rasa-env)
read -r -a rasa_env <<<"$rasa_env_line"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

env -u RASA_API_TOKEN "$BIN/python" -m cobranza.action_server &  # no API token
pids+=($!)
env "${rasa_env[@]}" "$BIN/rasa" run --model "$MODEL" \
  --interface "$RASA_HOST" --port "$RASA_PORT" --credentials "$CREDENTIALS" \
  --endpoints "$ENDPOINTS" --cors "http://localhost:$RASA_PORT" \
  --enable-api --auth-token="$RASA_API_TOKEN" &  # "=": a token may start with "-"
pids+=($!)
env -u ACTION_SERVER_TOKEN "$BIN/python" -m cobranza.console &
pids+=($!)
# The outreach worker holds neither token (it sends through WhatsApp's Graph API when WHATSAPP_*
# is set; without it, it settles promises and plans campaign steps, and sends nothing).
# OUTREACH_WORKER=off leaves it out (a worker that runs elsewhere, or tests on the wall clock).
if [ "${OUTREACH_WORKER:-on}" != "off" ]; then
  env -u RASA_API_TOKEN -u ACTION_SERVER_TOKEN "$BIN/python" -m cobranza.outreach &
  pids+=($!)
fi

echo "Starting: action server on http://$ACTIONS_HOST:$ACTIONS_PORT (Rasa only)," \
  "Rasa on http://$RASA_HOST:$RASA_PORT (REST: POST /webhooks/rest/webhook; web chat: /webchat/)," \
  "agents' console on http://$CONSOLE_HOST:$CONSOLE_PORT/, and the outreach worker." \
  "Ctrl-C stops all four."
# Any server exiting brings the others down.
wait -n "${pids[@]}"
status=$?
echo "a server exited (status $status); stopping the others" >&2
exit "$status"
