#!/usr/bin/env bash
# usage: hack/build-node.sh
# Builds the real node's binaries for CI: kubelet and kube-proxy from k8s.io/kubernetes (the same
# wrapper-module technique and version as hack/build-control-plane.sh, in a wrapper directory of
# its own) and the sandbox "pause" binary from hack/pause. containerd, runc and the CNI plugins
# are Debian's (scripts/system-packages.sh node). Output is cached outside the repo, keyed by the
# Kubernetes and Go versions (pause also by the hash of its sources), so a second run only checks
# the cache. Prints the bin directory on the last line of stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
CACHE="${QUANTOPS_CACHE:-$HOME/.cache/quantops}"
GOVER="$(go env GOVERSION)"
BIN="$CACHE/node/k8s-$K8S_VERSION-$GOVER/bin"
WORK="$CACHE/go-wrappers/node-k8s-$K8S_VERSION"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
log() { echo "[build-node] $*" >&2; }

bash "$ROOT/scripts/system-packages.sh" node >&2

mkdir -p "$BIN" "$WORK"
exec 9>"$CACHE/node/build.lock"
flock 9   # parallel sessions share the cache: one build at a time

# Every k8s.io staging module of k8s 1.36 (31 of 1.34/1.35 + cri-streaming + streaming).
STAGING="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller
cri-streaming streaming"

build_k8s() {
  if [ -x "$BIN/kubelet" ] && [ -x "$BIN/kube-proxy" ]; then log "kubelet, kube-proxy $K8S_VERSION cached"; return; fi
  local staging_v="v0.${K8S_VERSION#v1.}"
  cd "$WORK"
  [ -f go.mod ] || go mod init quantops.local/node-k8s-wrapper >/dev/null 2>&1
  local m
  for m in $STAGING; do go mod edit -replace="k8s.io/$m=k8s.io/$m@$staging_v"; done
  log "resolving k8s.io/kubernetes $K8S_VERSION (cmd/kubelet, cmd/kube-proxy)"
  go get -tool "k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-proxy@$K8S_VERSION" >&2
  # gitMinor is the bare minor ("36"): two statements, so the cut really happens.
  local minor date
  minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X '$p.gitVersion=$K8S_VERSION' -X '$p.gitMajor=1' -X '$p.gitMinor=$minor'"
    ld="$ld -X '$p.gitCommit=0000000000000000000000000000000000000000' -X '$p.gitTreeState=clean' -X '$p.buildDate=$date'"
  done
  log "building kubelet kube-proxy (gitMinor=$minor)"
  local tmp; tmp="$(mktemp -d "$BIN/.build.XXXXXX")"
  go build -trimpath -ldflags "$ld" -o "$tmp/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy >&2
  mv -f "$tmp/kubelet" "$tmp/kube-proxy" "$BIN/"
  rmdir "$tmp"
}

build_pause() {
  local src="$ROOT/hack/pause" hash
  hash="$(cat "$src/go.mod" "$src/main.go" | sha256sum | cut -c1-16)"
  if [ -x "$BIN/pause" ] && [ "$(cat "$BIN/pause.srchash" 2>/dev/null)" = "$hash" ]; then log "pause $hash cached"; return; fi
  log "building pause (sources $hash)"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$BIN/pause.tmp" .) >&2
  mv -f "$BIN/pause.tmp" "$BIN/pause"
  echo "$hash" > "$BIN/pause.srchash"
}

build_k8s
build_pause
echo "$BIN"
