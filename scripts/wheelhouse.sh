#!/usr/bin/env bash
# usage: scripts/wheelhouse.sh [--lock FILE]
# Builds the local wheelhouse scripts/install.sh falls back to when pip cannot reach the index
# (roadmap 5): $QUANTOPS_CACHE/wheelhouse (default ~/.cache/quantops/wheelhouse) gets the wheel of
# every pin of requirements.lock (`pip download --require-hashes --only-binary=:all:`: each file's
# sha256 must be the lock's; the lock pins the build backend too, so the project itself installs
# offline), and SHA256SUMS of every file. install.sh checks SHA256SUMS, then installs from it with
# --require-hashes against the lock again. The new wheelhouse replaces the old one atomically, so
# a failed build never leaves a half-written one. pip honours PIP_INDEX_URL / PIP_FIND_LINKS /
# PIP_NO_INDEX as usual. Exit 0 ok, 1 pip failed, 2 usage.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ROOT/requirements.lock"
usage() { sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --lock) [ $# -ge 2 ] || usage; LOCK="$2"; shift ;;
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
if ! "$PY" -m pip download -q --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
    -d "$stage" -r "$LOCK"; then
  echo "wheelhouse: pip download --require-hashes failed for $LOCK" >&2
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
