#!/usr/bin/env bash
# Make sure an nginx binary is here for scripts/cluster.sh (`make run-cluster`) and its tests,
# installing Debian's `nginx-light` package when there is none (needs root, as on CI and the dev
# machines). Only the binary is used: scripts/cluster.sh starts it as the current user with its
# own configuration (scripts/cluster/nginx.conf.in); Debian's own site on port 80 is not started
# by the installation and its service is disabled. Prints the binary's path; logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

found=found
find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }

if ! nginx=$(find_nginx); then
  # The package's post-install script starts Debian's site (port 80): policy-rc.d says no
  # service may start while it installs, when no such policy is in place already.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ "$(id -u)" = 0 ] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  status=0
  apt_install nginx-light || status=$?
  [ -n "$own_policy" ] && rm -f "$policy"
  [ "$status" = 0 ] || exit "$status"
  nginx=$(find_nginx) || { echo "error: nginx-light is installed but no nginx binary is found" >&2; exit 1; }
  # Not at the next boot either (systemctl edits the links without a running systemd).
  if command -v systemctl >/dev/null 2>&1; then systemctl disable nginx >/dev/null 2>&1 || true; fi
  found=installed
fi
# Our configuration needs the consistent hash of upstreams (ngx_http_upstream_hash_module).
if ! "$nginx" -V 2>&1 | grep -q -- '--without-http_upstream_hash_module'; then
  echo "nginx: $found $nginx ($("$nginx" -v 2>&1 | sed 's/^nginx version: //'))" >&2
  echo "$nginx"
else
  echo "error: $nginx was built without the upstream hash module that scripts/cluster.sh needs" >&2
  exit 1
fi
