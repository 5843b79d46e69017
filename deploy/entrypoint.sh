#!/bin/sh
# The image's entry point (Dockerfile): `<image> <command> [args…]` runs the command after two
# steps, so a manifest never carries a secret or repeats what scripts/run.sh works out.
#
# 1. Secrets from files. For every variable NAME_FILE in the environment (Compose mounts its
#    secrets at /run/secrets/<name>), NAME becomes the file's content, trailing newlines dropped,
#    and NAME_FILE is removed. cobranza/config.py reads NAME only; the value never appears in the
#    container's configuration (`docker inspect`). NAME and NAME_FILE together, or a file that
#    cannot be read, stop the container with the variable's name (never its value).
# 2. `rasa …`: Sanic's body bounds come from our settings (RASA_MAX_REQUEST_BYTES, checked in
#    cobranza/config.py, as scripts/run.sh passes them), and Rasa's HTTP API is switched on
#    behind RASA_API_TOKEN when, and only when, that token is set.
set -eu

fail() {
  echo "error: entrypoint: $*" >&2
  exit 1
}

for name in $(env | sed -n 's/^\([A-Z][A-Z0-9_]*\)_FILE=.*/\1/p'); do
  eval "file=\${${name}_FILE}"
  eval "already=\${${name}+set}"
  [ -z "$already" ] || fail "both $name and ${name}_FILE are set; keep one"
  [ -r "$file" ] || fail "${name}_FILE names a file this user cannot read: $file"
  value=$(cat "$file")
  export "$name=$value"
  unset "${name}_FILE"
done

if [ "${1:-}" = "rasa" ]; then
  shift
  bounds=$(python -m cobranza.action_server --rasa-env) || exit 1
  if [ -n "${RASA_API_TOKEN:-}" ]; then
    set -- "$@" --enable-api "--auth-token=$RASA_API_TOKEN"  # "=": a token may start with "-"
  fi
  # $bounds is NAME=value words of digits only (cobranza.action_server.rasa_environment).
  # shellcheck disable=SC2086
  exec env $bounds rasa "$@"
fi

exec "$@"
