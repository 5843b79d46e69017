#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter (Rasa 3.6 runs on 3.10 only), or fail clearly.
# Order: $PYTHON, python3.10 on PATH, pyenv's 3.10.x.
set -u
is_310() { [ -x "$1" ] && [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "3.10" ]; }
if [ -n "${PYTHON:-}" ]; then
  p=$(command -v "$PYTHON" 2>/dev/null || echo "$PYTHON")
  if is_310 "$p"; then echo "$p"; exit 0; fi
  echo "error: PYTHON=$PYTHON is not a Python 3.10 interpreter (Rasa 3.6 needs 3.10)." >&2
  exit 1
fi
candidates=()
candidates+=("$(command -v python3.10 2>/dev/null || true)")
if command -v pyenv >/dev/null 2>&1; then
  for p in "$(pyenv root)"/versions/3.10.*/bin/python3.10; do candidates+=("$p"); done
fi
for p in "$HOME"/.pyenv/versions/3.10.*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
  candidates+=("$p")
done
for p in "${candidates[@]}"; do
  if [ -n "$p" ] && is_310 "$p"; then echo "$p"; exit 0; fi
done
echo "error: no Python 3.10 found. Rasa 3.6 needs Python 3.10: install it (e.g. 'pyenv install 3.10.13')" >&2
echo "       or point PYTHON at it: make run PYTHON=/path/to/python3.10" >&2
exit 1
