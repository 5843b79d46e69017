#!/usr/bin/env bash
# Start the action server (port 5055) and the Rasa server (port 5005, REST channel) in the
# foreground. Ctrl-C (or either server exiting) stops both. `make run` prepares everything first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
MODEL=${RASA_MODEL:-models/cobranza.tar.gz}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
RASA_PORT=${RASA_PORT:-5005}
CONSOLE_PORT=${CONSOLE_PORT:-5006}
ENDPOINTS=${RASA_ENDPOINTS:-endpoints.yml}  # its action_endpoint must match ACTIONS_PORT
CREDENTIALS=${RASA_CREDENTIALS:-credentials.yml}  # credentials.whatsapp.yml adds WhatsApp
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONTZPATH=


[ -x "$BIN/rasa" ] || { echo "error: .venv is missing; run 'make run' (it installs everything)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "error: no model at $MODEL; run 'make run' or 'make train'" >&2; exit 1; }

# Rasa's HTTP API (trackers, events) is on, behind a token only our servers hold: from the
# environment, else var/rasa_api_token (created once, readable by this user only).
if [ -z "${RASA_API_TOKEN:-}" ]; then
  TOKEN_FILE=var/rasa_api_token
  if [ ! -s "$TOKEN_FILE" ]; then
    mkdir -p var
    (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_hex(32))' >"$TOKEN_FILE")
  fi
  RASA_API_TOKEN=$(cat "$TOKEN_FILE")
fi
export RASA_API_TOKEN RASA_PORT CONSOLE_PORT

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

env -u RASA_API_TOKEN "$BIN/rasa" run actions --actions actions --port "$ACTIONS_PORT" &  # no API token
pids+=($!)
"$BIN/rasa" run --model "$MODEL" --port "$RASA_PORT" --credentials "$CREDENTIALS" \
  --endpoints "$ENDPOINTS" --cors "http://localhost:$RASA_PORT" \
  --enable-api --auth-token="$RASA_API_TOKEN" &  # "=": a token may start with "-"
pids+=($!)
"$BIN/python" -m cobranza.console &
pids+=($!)

echo "Starting: action server on :$ACTIONS_PORT, Rasa on :$RASA_PORT (REST: POST" \
  "http://localhost:$RASA_PORT/webhooks/rest/webhook; web chat: http://localhost:$RASA_PORT/webchat/)," \
  "agents' console on http://localhost:$CONSOLE_PORT/. Ctrl-C stops all three."
# Any server exiting brings the others down.
wait -n "${pids[@]}"
status=$?
echo "a server exited (status $status); stopping the others" >&2
exit "$status"
