#!/usr/bin/env bash
# usage: scripts/install.sh
# One-command installer (roadmap 3): an isolated venv in .venv with the pinned dependencies of
# requirements.lock and the project itself (editable). Idempotent: a stamp keyed by the hash of
# requirements.lock + pyproject.toml skips the work when nothing changed. When pip cannot reach
# the index it falls back to the local wheelhouse built by scripts/wheelhouse.sh (roadmap 5).
# Supply chain: both paths install `--require-hashes --only-binary=:all: -r requirements.lock`, so a
# pin without a hash, or a wheel (downloaded or from the wheelhouse) whose sha256 is not the lock's,
# fails the install; no setup.py runs. The lock pins the build backend too (setuptools, wheel), so
# the project's own editable install (--no-deps, the one thing that cannot be hashed) builds with
# --no-build-isolation and downloads nothing unhashed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${QUANTOPS_PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "install: Python 3.11 is required, found $("$PY" --version 2>&1)" >&2; exit 2; }
CACHE="${QUANTOPS_CACHE:-$HOME/.cache/quantops}"
WHEELHOUSE="$CACHE/wheelhouse"
stamp_key="$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ "$(cat .venv/.quantops-stamp 2>/dev/null)" = "$stamp_key" ] && .venv/bin/python -c 'import quantops_api' 2>/dev/null; then
  echo "install: .venv up to date ($stamp_key)" >&2
  exit 0
fi
pip_install() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@"; }
pip_locked() { pip_install --require-hashes --only-binary=:all: -r requirements.lock "$@"; }
if ! pip_locked; then
  echo "install: pip install from the index failed; trying the wheelhouse $WHEELHOUSE" >&2
  [ -d "$WHEELHOUSE" ] || { echo "install: no wheelhouse at $WHEELHOUSE (build one with scripts/wheelhouse.sh)" >&2; exit 1; }
  (cd "$WHEELHOUSE" && sha256sum -c --quiet SHA256SUMS) || { echo "install: wheelhouse hash check failed" >&2; exit 1; }
  unlisted="$(cd "$WHEELHOUSE" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' \
    | grep -vxF -f <(awk '{print $2}' SHA256SUMS) || true)"
  [ -z "$unlisted" ] || { echo "install: wheelhouse files not in SHA256SUMS: $unlisted" >&2; exit 1; }
  # offline from here on (the project install builds with the lock's setuptools, no isolation)
  export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELHOUSE"
  # SHA256SUMS only says the wheelhouse is as it was built; the lock's hashes are what is trusted
  pip_locked --no-index --find-links "$WHEELHOUSE" \
    || { echo "install: installing from the wheelhouse failed (a wheel not matching requirements.lock's hashes is refused)" >&2; exit 1; }
fi
pip_install --no-deps --no-build-isolation -e .
echo "$stamp_key" > .venv/.quantops-stamp
echo "install: .venv ready ($stamp_key)" >&2
