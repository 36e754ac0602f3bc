#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs the pinned lock into it.
# Called by the Makefile only when the lock files are newer than the last install,
# so a second `make run` / `make test` reinstalls nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
WANT=3.10

find_python() {
  local candidate
  for candidate in "${AET_PYTHON:-}" python3.10 \
      "$(pyenv root 2>/dev/null)/versions/$(cat .python-version 2>/dev/null)/bin/python3.10"; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 \
        && [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$WANT" ]; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY=$(find_python) || {
    echo "error: Python $WANT not found. Install it (e.g. 'pyenv install 3.10.13') or set AET_PYTHON=/path/to/python3.10." >&2
    exit 1
  }
  echo "==> creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi

log=$VENV/install.log
echo "==> installing the pinned lock into $VENV (a few minutes on first run; log: $log)"
pip_install() {
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-deps "$@" >>"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" | tail -n 30 >&2
    echo "error: pip install $* failed; full log in $log" >&2
    exit 1
  fi
}
: >"$log"
# Every file is checked against the lock's hashes (scripts/hash_lock.py writes them).
pip_install --require-hashes -r requirements/lock.txt
pip_install --require-hashes -r requirements/data.txt
pip_install --no-build-isolation -e .
echo "==> $VENV ready"
