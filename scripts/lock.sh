#!/usr/bin/env bash
# usage: scripts/lock.sh [--upgrade]
# Regenerates requirements.lock: every distribution the project installs on its platform (Linux
# x86_64, CPython 3.11) pinned with the sha256 of the exact wheel pip installs, so every installer
# runs with --require-hashes (scripts/install.sh, scripts/wheelhouse.sh, the image build).
#   1. resolve  `pip install --dry-run --report` of the project with its dev extra and its build
#               backend (pyproject [build-system] requires: the editable install then needs no
#               download), wheels only; without --upgrade the current pins are the constraints, so
#               the lock only changes where pyproject.toml asks for it; with --upgrade the newest
#               versions pyproject.toml allows
#   2. verify   `pip download --require-hashes` of the new lock: every hash matches a real file
#   3. write    requirements.lock (atomically), then scripts/checksums.sh update (the lock is a
#               startup file)
# Exit 0 ok, 1 pip failed, 2 usage or wrong platform. PIP_INDEX_URL etc. are honoured as usual.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ROOT/requirements.lock"
PY="${QUANTOPS_LOCK_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3.11
upgrade=0
case "${1:-}" in
  "") ;;
  --upgrade) upgrade=1 ;;
  *) sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2 ;;
esac
"$PY" -c 'import platform, sys
sys.exit(0 if sys.version_info[:2] == (3, 11) and sys.implementation.name == "cpython"
         and platform.system() == "Linux" and platform.machine() == "x86_64" else 1)' \
  || { echo "lock: the lock is for Linux x86_64 CPython 3.11; $PY is not" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT
pip() { "$PY" -m pip --disable-pip-version-check "$@"; }
constraints=()
if [ "$upgrade" = 0 ] && [ -f "$LOCK" ]; then
  "$PY" "$ROOT/scripts/lockfile.py" strip "$LOCK" > "$work/constraints.txt"
  constraints=(-c "$work/constraints.txt")
fi
mapfile -t build < <("$PY" "$ROOT/scripts/lockfile.py" requires "$ROOT/pyproject.toml" build)
echo "lock: resolving $ROOT[dev] + ${build[*]} ($([ "$upgrade" = 1 ] && echo upgrade || echo 'current pins as constraints'))" >&2
pip install -q --dry-run --ignore-installed --only-binary=:all: --report "$work/report.json" \
  "${constraints[@]}" "$ROOT[dev]" "${build[@]}" \
  || { echo "lock: resolve failed" >&2; exit 1; }
cat > "$work/header" <<'EOF'
# requirements.lock: every distribution the project installs on Linux x86_64 / CPython 3.11, each
# pinned with the sha256 of the wheel pip installs. Installers use --require-hashes (a pin without a
# hash, or a file whose hash differs, is refused). Generated, do not edit by hand:
#   bash scripts/lock.sh             re-resolve and re-hash, keeping these pins (after a pyproject.toml change)
#   bash scripts/lock.sh --upgrade   the newest versions pyproject.toml allows
# (it also runs scripts/checksums.sh update; commit requirements.lock and scripts/CHECKSUMS.sha256).
# The project itself is installed separately, editable and --no-deps (it cannot be hashed).
EOF
"$PY" "$ROOT/scripts/lockfile.py" from-report "$work/report.json" --header "$work/header" > "$work/requirements.lock"
echo "lock: verifying $(grep -c -- '--hash=' "$work/requirements.lock") hashes against the files (pip download --require-hashes)" >&2
pip download -q --no-deps --require-hashes --only-binary=:all: -d "$work/files" -r "$work/requirements.lock" \
  || { echo "lock: a hash did not verify" >&2; exit 1; }
cp "$work/requirements.lock" "$LOCK.tmp.$$"
mv -f -- "$LOCK.tmp.$$" "$LOCK"
echo "lock: wrote $LOCK ($(grep -c '==' "$LOCK") pins)" >&2
bash "$ROOT/scripts/checksums.sh" update
