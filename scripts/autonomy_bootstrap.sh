#!/usr/bin/env bash
# usage: scripts/autonomy_bootstrap.sh [--check-only] [--skip-install] [--strict] [--config FILE]...
#                                      (up [-- ARGS...] | agent ROLE [ARGS...])
# Brings an agent host up (roadmap 1), in this order, refusing to start at the first failure:
#   1. startup-file checksums vs scripts/CHECKSUMS.sha256 (roadmap 10)   -> exit 10 with the diff
#   2. Python 3.11 present                                               -> exit 11
#   3. scripts/install.sh: pinned deps into .venv, wheelhouse fallback    -> exit 12
#      (skipped with --skip-install or QUANTOPS_SKIP_INSTALL=1; .venv must then exist)
#   4. scripts/preflight_check.py (JSON in $QUANTOPS_STATE_DIR/preflight.json; deps, disk, clock,
#      network, config, API): fail -> exit 13; warnings continue unless --strict (then exit 13)
#   5. --check-only: exit with the preflight code (0 ok, 1 warnings); otherwise exec
#        up [-- ARGS]        -> .venv/bin/quantops up ARGS
#        agent ROLE [ARGS]   -> .venv/bin/python -m quantops_trading.runtime ROLE ARGS
# Exit 2 on usage errors. QUANTOPS_VENV overrides the venv (default <repo>/.venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${QUANTOPS_VENV:-$ROOT/.venv}"
STATE="${QUANTOPS_STATE_DIR:-$ROOT/.quantops}"
log() { printf 'bootstrap: %s\n' "$*" >&2; }
usage() {
  sed -n '2,3p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

check_only=0 skip_install="${QUANTOPS_SKIP_INSTALL:-0}" strict=0
config_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --check-only) check_only=1 ;;
    --skip-install) skip_install=1 ;;
    --strict) strict=1 ;;
    --config) [ $# -ge 2 ] || usage; config_args+=(--config "$2"); shift ;;
    -h|--help) usage ;;
    --*) log "unknown option $1"; usage ;;
    *) break ;;
  esac
  shift
done

cmd=()
if [ $# -gt 0 ]; then
  case "$1" in
    up)
      shift
      [ "${1:-}" = "--" ] && shift
      cmd=("$VENV/bin/quantops" up "$@") ;;
    agent)
      [ $# -ge 2 ] || { log "agent needs a ROLE"; usage; }
      role="$2"; shift 2
      [ "${1:-}" = "--" ] && shift
      cmd=("$VENV/bin/python" -m quantops_trading.runtime "$role" "$@") ;;
    *) log "unknown command $1"; usage ;;
  esac
elif [ "$check_only" -eq 0 ]; then
  log "nothing to start: give 'up' or 'agent ROLE' (or --check-only)"; usage
fi

# 1. checksums: before anything from the checkout runs
if ! QUANTOPS_ROOT="$ROOT" "$ROOT/scripts/checksums.sh" verify; then
  log "refusing to start: startup files differ from scripts/CHECKSUMS.sha256 (see the diff above)"
  exit 10
fi

# 2. python
PY="${QUANTOPS_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
  log "refusing to start: Python 3.11 is required (tried $PY: $("$PY" --version 2>&1 || echo missing))"
  exit 11
fi

# 3. install
if [ "$skip_install" = 1 ]; then
  [ -x "$VENV/bin/python" ] || { log "refusing to start: --skip-install but no venv at $VENV"; exit 12; }
  log "install skipped; using $VENV"
elif ! "$ROOT/scripts/install.sh"; then
  log "refusing to start: scripts/install.sh failed"
  exit 12
fi

# 4. preflight (JSON report kept for the supervisor and for humans)
mkdir -p "$STATE"
set +e
"$VENV/bin/python" "$ROOT/scripts/preflight_check.py" --root "$ROOT" --output "$STATE/preflight.json" \
  ${config_args[@]+"${config_args[@]}"} >/dev/null
rc=$?
set -e
case "$rc" in
  0) log "preflight ok ($STATE/preflight.json)" ;;
  1) if [ "$strict" = 1 ]; then log "refusing to start: preflight warnings with --strict"; exit 13; fi
     log "preflight warnings, continuing ($STATE/preflight.json)" ;;
  *) log "refusing to start: preflight exit $rc ($STATE/preflight.json)"; exit 13 ;;
esac

if [ "$check_only" = 1 ]; then
  log "check-only: done"
  exit "$rc"
fi
log "exec ${cmd[*]}"
exec "${cmd[@]}"
