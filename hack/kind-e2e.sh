#!/usr/bin/env bash
# usage: hack/kind-e2e.sh [--strict] [--keep] [--name CLUSTER]
# End to end on a real kind cluster, for machines that can pull images: kind create cluster → build
# the images (hack/build-images.sh) → kind load docker-image → the same scenario CI runs on the host
# node (tests/realnode/test_platform.py with QUANTOPS_E2E_PROVIDER=kind) → tear the cluster down
# (unless --keep).
# Where kind cannot run (no kind binary, no docker engine, the node image cannot be pulled, the
# cluster cannot be created) it says so and exits 0, or 3 with --strict. A failure once the cluster
# is up is a real failure: exit 1. In CI the same scenario runs on a real kubelet node on the host:
# tests/realnode/test_platform.py.
# Env: KIND (kind binary), KIND_NODE_IMAGE (node image; kind's default when empty), KUBECTL, HELM
# (default: on PATH, else the binaries hack/build-control-plane.sh builds).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STRICT=0 KEEP=0 NAME=quantops-e2e NS=quantops
usage() { sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --strict) STRICT=1 ;;
    --keep) KEEP=1 ;;
    --name) [ $# -ge 2 ] || usage; NAME="$2"; shift ;;
    -h|--help) usage ;;
    *) echo "kind-e2e: unknown argument $1" >&2; usage ;;
  esac
  shift
done
log() { printf 'kind-e2e: %s\n' "$*" >&2; }
cannot_run() {
  log "CANNOT RUN HERE: $*"
  log "the same scenario runs on the host's real node: pytest tests/realnode/test_platform.py"
  if [ "$STRICT" = 1 ]; then log "--strict: failing"; exit 3; fi
  log "not strict: exiting 0 (pass --strict to fail instead)"
  exit 0
}

KIND="${KIND:-kind}"
command -v "$KIND" >/dev/null 2>&1 || cannot_run "no kind binary ('$KIND' is not on PATH; see https://kind.sigs.k8s.io)"
command -v docker >/dev/null 2>&1 || cannot_run "no docker CLI"
bash "$ROOT/hack/docker-daemon.sh" || cannot_run "no docker engine (hack/docker-daemon.sh failed)"
tool() {  # $1 name, $2 override: the override, else PATH, else the control-plane build
  if [ -n "$2" ]; then echo "$2"; elif command -v "$1" >/dev/null 2>&1; then command -v "$1"
  else echo "$(bash "$ROOT/hack/build-control-plane.sh" 2>/dev/null | tail -n1)/$1"; fi
}
KUBECTL="$(tool kubectl "${KUBECTL:-}")"
HELM="$(tool helm "${HELM:-}")"
[ -x "$KUBECTL" ] && [ -x "$HELM" ] || cannot_run "kubectl/helm unavailable ($KUBECTL, $HELM)"
if [ -n "${KIND_NODE_IMAGE:-}" ] && ! docker image inspect "$KIND_NODE_IMAGE" >/dev/null 2>&1; then
  timeout 300 docker pull "$KIND_NODE_IMAGE" >/dev/null 2>&1 || cannot_run "node image $KIND_NODE_IMAGE cannot be pulled"
fi

WORK="$(mktemp -d)"
KCFG="$WORK/kubeconfig"
cleanup() {
  local rc=$?
  if [ "$KEEP" = 1 ]; then log "--keep: cluster $NAME left running (KUBECONFIG=$KCFG)"
  else "$KIND" delete cluster --name "$NAME" >/dev/null 2>&1 || true; rm -rf -- "$WORK"; fi
  exit "$rc"
}
log "kind create cluster --name $NAME"
node=()
[ -n "${KIND_NODE_IMAGE:-}" ] && node=(--image "$KIND_NODE_IMAGE")
if ! "$KIND" create cluster --name "$NAME" "${node[@]}" --kubeconfig "$KCFG" --wait 180s >"$WORK/create.log" 2>&1; then
  tail -n 20 "$WORK/create.log" >&2
  "$KIND" delete cluster --name "$NAME" >/dev/null 2>&1 || true
  cannot_run "kind create cluster failed (node image not pullable or no nested containers?)"
fi
trap cleanup EXIT
k() { "$KUBECTL" --kubeconfig "$KCFG" "$@"; }

log "building the images"
bash "$ROOT/hack/build-images.sh"
VERSION="$(awk -F'"' '/^appVersion:/ {print $2}' "$ROOT/helm/quantops/Chart.yaml")"
for img in "quantops/operator:$VERSION" "quantops/agent:$VERSION" quantops/operator:dev quantops/agent:dev; do
  log "kind load docker-image $img"
  "$KIND" load docker-image "$img" --name "$NAME" >/dev/null
done

# The scenario itself is the one CI runs on the host node: tests/realnode/test_platform.py (helm
# install with dev values, kubectl apply of the samples, every Agent Ready through its probes, the
# trader trading on the venue-sim pod, gate flips with p50/p99, per-strategy STOP, deleted global
# policy, kill -9, API server loss, operator restart, one rollout per spec change, recycle).
log "running the platform scenario (tests/realnode/test_platform.py) on kind"
export QUANTOPS_E2E_PROVIDER=kind QUANTOPS_E2E_KUBECONFIG="$KCFG" QUANTOPS_E2E_CLUSTER="$NAME"
export KUBECTL HELM
if ! "$ROOT/.venv/bin/pytest" -p no:cacheprovider -v "$ROOT/tests/realnode/test_platform.py"; then
  log "FAILED: the platform scenario failed on kind"; exit 1
fi
log "PASSED"
