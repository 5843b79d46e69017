#!/usr/bin/env bash
# Create the secret files deploy/compose.yml mounts, in deploy/secrets/ (SECRETS_DIR overrides),
# never overwriting one that exists. Generated: the PostgreSQL and RabbitMQ passwords and the URL
# and config file that carry them, Rasa's API token, the action server's token, the web chat's
# signing key and the webhook's verify token (type it in Meta's webhook settings). Not
# generated, listed at the end: what Meta gives you (WhatsApp app secret, access token) and the
# TLS certificate and key for nginx.
#
# Each file is mode 0400. Run as root, each is also given to the user of the container that
# reads it (10001: our processes; 999: PostgreSQL and RabbitMQ; 101: nginx), since Compose mounts
# the files as they are.
set -euo pipefail
cd "$(dirname "$0")"
dir=${SECRETS_DIR:-secrets}
mkdir -p "$dir"
chmod 0700 "$dir"

random_hex() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# write NAME OWNER CONTENT: the file unless it exists.
write() {
  local file="$dir/$1"
  if [ -e "$file" ]; then
    echo "kept     $file"
    return
  fi
  (umask 0377 && printf '%s\n' "$3" >"$file")
  [ "$(id -u)" != 0 ] || chown "$2:$2" "$file"
  echo "created  $file"
}

# read NAME: the content of an existing secret file (one line).
read_secret() { head -n 1 "$dir/$1"; }

write postgres_password 999 "$(random_hex)"
write database_url 10001 "postgresql://cobranza:$(read_secret postgres_password)@postgres:5432/cobranza"
write rabbitmq_password 10001 "$(random_hex)"
write rabbitmq.conf 999 "default_user = cobranza
default_pass = $(read_secret rabbitmq_password)"
write rasa_api_token 10001 "$(random_hex)"
write action_server_token 10001 "$(random_hex)"
write webchat_session_secret 10001 "$(random_hex)"
write events_sender_key 10001 "$(random_hex)"
write whatsapp_verify_token 10001 "$(random_hex)"
write gateway_redis_url 10001 "redis://redis:6379/0"

missing=0
for name in whatsapp_app_secret whatsapp_access_token tls.crt tls.key; do
  if [ ! -s "$dir/$name" ]; then
    echo "missing  $dir/$name"
    missing=1
  fi
done
if [ "$missing" = 1 ]; then
  echo "Put the missing files in place (mode 0400; owner 10001, or 101 for tls.*), then run" \
    "docker compose -f deploy/compose.yml up -d (docs/deployment.md)." >&2
  exit 1
fi
