# Shell functions shared by scripts/run.sh, scripts/cluster.sh and the scripts/ensure_*.sh ones.
# Sourced, never run: `. scripts/common.sh` (the first two expect the repository as the current
# directory).

# A secret only our servers hold, from var/<name>: created once (64 hex characters, readable by
# this user only) and the same on every later start, so tokens, keys and web chat sessions
# survive a restart.
token_file() {
  local file="var/$1"
  if [ ! -s "$file" ]; then
    mkdir -p var
    (umask 077 && "${BIN:-.venv/bin}/python" -c 'import secrets; print(secrets.token_hex(32))' >"$file")
  fi
  cat "$file"
}

# Whether something accepts TCP connections on host $1, port $2 (bash's /dev/tcp, 2 s at most).
port_answers() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# Wait up to $3 seconds for host $1, port $2 to answer.
wait_port() {
  local waited=0
  until port_answers "$1" "$2"; do
    [ "$waited" -ge "$3" ] && return 1
    sleep 1
    waited=$((waited + 1))
  done
}

# Whether host $1 is this machine's loopback (what the ensure scripts may install and start).
is_loopback() {
  case "$1" in 127.0.0.1 | localhost | ::1) return 0 ;; *) return 1 ;; esac
}

# Install Debian packages ($@) with apt-get, or say why not and fail. Output goes to stderr.
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: installing $* needs root: sudo apt-get install $* (or run this script as root)" >&2
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $* is missing and there is no apt-get (this script expects Debian)" >&2
    return 1
  fi
  echo "installing $* from Debian's packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Start Debian's service $1 (systemd when it runs, else the init script), as root.
start_service() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: starting the $1 service needs root: sudo service $1 start" >&2
    return 1
  fi
  echo "starting the $1 service..." >&2
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl start "$1" >&2
  elif [ -x "/etc/init.d/$1" ]; then
    "/etc/init.d/$1" start >&2
  else
    echo "error: no systemd and no /etc/init.d/$1 to start $1 with" >&2
    return 1
  fi
}

# Make sure a service answers, for scripts/cluster.sh and its tests (scripts/ensure_redis.sh,
# scripts/ensure_rabbitmq.sh):
#   ensure_service NAME LABEL HOST PORT DEBIAN_PORT WAIT CHECK SERVICE PACKAGE...
# Used as it is when `CHECK HOST PORT` succeeds; on this machine (HOST a loopback), otherwise,
# the PACKAGEs are installed from Debian's packages when the SERVICE binary is missing and
# Debian's SERVICE is started, then given WAIT seconds to answer; it listens on DEBIAN_PORT
# only, so another PORT is refused. NAME starts the log lines, LABEL names it in errors.
# Prints HOST:PORT; logs go to stderr.
ensure_service() {
  local name=$1 label=$2 host=$3 port=$4 debian_port=$5 wait=$6 check=$7 service=$8
  shift 8
  if "$check" "$host" "$port"; then
    echo "$name: answering on $host:$port" >&2
  else
    if ! is_loopback "$host"; then
      echo "error: nothing answers as $label on $host:$port, and that is not this machine" >&2
      return 1
    fi
    if [ "$port" != "$debian_port" ]; then
      echo "error: nothing answers as $label on $host:$port; Debian's service listens on $debian_port only" >&2
      return 1
    fi
    command -v "$service" >/dev/null 2>&1 || apt_install "$@" || return 1
    start_service "$service" || return 1
    if ! wait_port "$host" "$port" "$wait" || ! "$check" "$host" "$port"; then
      echo "error: the $service service started but nothing answers on $host:$port" >&2
      return 1
    fi
    echo "$name: started, answering on $host:$port" >&2
  fi
  echo "$host:$port"
}
