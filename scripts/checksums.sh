#!/usr/bin/env bash
# usage: scripts/checksums.sh [verify|update|list]   (default: verify)
# Checksum manifest of the startup files (roadmap 10): scripts/*.sh, scripts/*.py and
# requirements.lock, recorded in scripts/CHECKSUMS.sha256 (sha256sum format, sorted by path).
#   verify  exit 0 when every file matches; exit 1 and print which file changed with the
#           expected and actual hash otherwise (autonomy_bootstrap.sh refuses to start then)
#   update  rewrite the manifest after an intended change; commit it with the change
#   list    print the files the manifest covers
# Exit codes: 0 ok, 1 mismatch, 2 usage or missing manifest.
# QUANTOPS_ROOT overrides the checkout (default: the parent of this script's directory).
set -euo pipefail
ROOT="${QUANTOPS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
MANIFEST="scripts/CHECKSUMS.sha256"
HEADER="# sha256 of startup scripts and the lock. Regenerate after an intended change: scripts/checksums.sh update"
usage() { echo "usage: scripts/checksums.sh [verify|update|list]" >&2; exit 2; }

tracked_files() {
  (
    cd "$ROOT"
    shopt -s nullglob
    for f in scripts/*.sh scripts/*.py requirements.lock; do
      [ -f "$f" ] && printf '%s\n' "$f"
    done | LC_ALL=C sort
  )
}

compute() {
  local f
  tracked_files | while IFS= read -r f; do (cd "$ROOT" && sha256sum -- "$f"); done
}

update() {
  local tmp
  tmp="$(mktemp "$ROOT/$MANIFEST.XXXXXX")"
  { printf '%s\n' "$HEADER"; compute; } > "$tmp"
  mv -f -- "$tmp" "$ROOT/$MANIFEST"
  echo "checksums: wrote $MANIFEST ($(grep -vc '^#' "$ROOT/$MANIFEST") files)" >&2
}

verify() {
  [ -f "$ROOT/$MANIFEST" ] || { echo "checksums: no manifest at $MANIFEST; run scripts/checksums.sh update" >&2; exit 2; }
  declare -A expected=() actual=()
  local hash path problems=0
  while read -r hash path; do
    [ -z "$hash" ] || [ "${hash:0:1}" = "#" ] && continue
    expected["$path"]="$hash"
  done < "$ROOT/$MANIFEST"
  while read -r hash path; do actual["$path"]="$hash"; done < <(compute)
  local report=""
  for path in $(printf '%s\n' "${!expected[@]}" "${!actual[@]}" | LC_ALL=C sort -u); do
    local want="${expected[$path]:-}" got="${actual[$path]:-}"
    if [ -z "$want" ]; then
      report+="  added    $path (not in the manifest)"$'\n'"    - expected (none)"$'\n'"    + actual   $got"$'\n'
    elif [ -z "$got" ]; then
      report+="  removed  $path (in the manifest, file missing)"$'\n'"    - expected $want"$'\n'"    + actual   (none)"$'\n'
    elif [ "$want" != "$got" ]; then
      report+="  changed  $path"$'\n'"    - expected $want"$'\n'"    + actual   $got"$'\n'
    else
      continue
    fi
    problems=$((problems + 1))
  done
  if [ "$problems" -gt 0 ]; then
    {
      echo "checksums: MISMATCH in $problems startup file(s) since $MANIFEST was generated:"
      printf '%s' "$report"
      echo "checksums: if the change is intended, review it, run 'scripts/checksums.sh update' and commit $MANIFEST"
    } >&2
    exit 1
  fi
  echo "checksums: ok (${#expected[@]} files match $MANIFEST)" >&2
}

case "${1:-verify}" in
  verify) verify ;;
  update) update ;;
  list) tracked_files ;;
  -h|--help) usage ;;
  *) usage ;;
esac
