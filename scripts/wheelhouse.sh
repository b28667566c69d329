#!/usr/bin/env bash
# usage: scripts/wheelhouse.sh [--lock FILE] [--no-build-deps]
# Builds the local wheelhouse scripts/install.sh falls back to when pip cannot reach the index
# (roadmap 5): $QUANTOPS_CACHE/wheelhouse (default ~/.cache/quantops/wheelhouse) gets a wheel for
# every pin of requirements.lock (pip wheel: downloads wheels, builds sdists), plus the build
# backend (setuptools>=68, wheel) so the project itself installs offline, and SHA256SUMS of every
# file, which install.sh verifies before using them. The new wheelhouse replaces the old one
# atomically, so a failed build never leaves a half-written one. pip honours PIP_INDEX_URL /
# PIP_FIND_LINKS / PIP_NO_INDEX as usual. Exit 0 ok, 1 pip failed, 2 usage.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ROOT/requirements.lock"
BUILD_DEPS=("setuptools>=68" "wheel")
usage() { sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --lock) [ $# -ge 2 ] || usage; LOCK="$2"; shift ;;
    --no-build-deps) BUILD_DEPS=() ;;
    -h|--help) usage ;;
    *) echo "wheelhouse: unknown argument $1" >&2; usage ;;
  esac
  shift
done
[ -f "$LOCK" ] || { echo "wheelhouse: no lock file at $LOCK" >&2; exit 2; }
CACHE="${QUANTOPS_CACHE:-$HOME/.cache/quantops}"
WHEELHOUSE="$CACHE/wheelhouse"
PY="${QUANTOPS_WHEELHOUSE_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3.11

mkdir -p "$CACHE"
stage="$(mktemp -d "$CACHE/wheelhouse.staging.XXXXXX")"
trap 'rm -rf -- "$stage"' EXIT
pip_wheel() { "$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$stage" "$@"; }
if ! pip_wheel -r <(sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*-e/d' "$LOCK"); then
  echo "wheelhouse: pip wheel failed for $LOCK" >&2
  exit 1
fi
if [ ${#BUILD_DEPS[@]} -gt 0 ] && ! pip_wheel "${BUILD_DEPS[@]}"; then
  echo "wheelhouse: pip wheel failed for the build backend (${BUILD_DEPS[*]})" >&2
  exit 1
fi
(cd "$stage" && find . -maxdepth 1 -type f -name '*.whl' -printf '%f\n' | LC_ALL=C sort | xargs -r sha256sum > SHA256SUMS)
chmod 755 "$stage"
old="$CACHE/wheelhouse.old.$$"
[ -d "$WHEELHOUSE" ] && mv -- "$WHEELHOUSE" "$old"
mv -- "$stage" "$WHEELHOUSE"
trap - EXIT
rm -rf -- "$old"
echo "wheelhouse: $(grep -c . "$WHEELHOUSE/SHA256SUMS") wheels in $WHEELHOUSE" >&2
