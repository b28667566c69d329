#!/usr/bin/env bash
# usage: hack/build-control-plane.sh
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm and
# promtool from their Go modules with the machine's go and module proxy. Output is cached outside the
# repo, keyed by component version and Go version, so a second run only checks the cache.
# Prints the bin directory on the last line of stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
PROMTOOL_VERSION="${PROMTOOL_VERSION:-v0.316.0}"  # github.com/prometheus/prometheus (Prometheus 3.x)
CACHE="${QUANTOPS_CACHE:-$HOME/.cache/quantops}"
GOVER="$(go env GOVERSION)"
BIN="$CACHE/controlplane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION-$GOVER/bin"
WORK="$CACHE/go-wrappers"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
mkdir -p "$BIN" "$WORK"

log() { echo "[build-control-plane] $*" >&2; }

# Every k8s.io staging module of k8s 1.36 (31 of 1.34/1.35 + cri-streaming + streaming).
STAGING="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller
cri-streaming streaming"

build_k8s() {
  local need=0
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do [ -x "$BIN/$b" ] || need=1; done
  [ $need = 1 ] || { log "k8s $K8S_VERSION cached"; return; }
  local dir="$WORK/k8s-$K8S_VERSION" staging_v="v0.${K8S_VERSION#v1.}"
  mkdir -p "$dir"; cd "$dir"
  [ -f go.mod ] || go mod init quantops.local/k8s-wrapper >/dev/null 2>&1
  for m in $STAGING; do go mod edit -replace="k8s.io/$m=k8s.io/$m@$staging_v"; done
  log "resolving k8s.io/kubernetes $K8S_VERSION"
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" >&2
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}" date; date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X '$p.gitVersion=$K8S_VERSION' -X '$p.gitMajor=1' -X '$p.gitMinor=$minor'"
    ld="$ld -X '$p.gitCommit=0000000000000000000000000000000000000000' -X '$p.gitTreeState=clean' -X '$p.buildDate=$date'"
  done
  log "building kube-apiserver kube-controller-manager kube-scheduler kubectl"
  go build -trimpath -ldflags "$ld" -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl >&2
}

build_etcd() {
  [ -x "$BIN/etcd" ] && { log "etcd $ETCD_VERSION cached"; return; }
  local dir="$WORK/etcd-$ETCD_VERSION"
  mkdir -p "$dir"; cd "$dir"
  [ -f go.mod ] || go mod init quantops.local/etcd-wrapper >/dev/null 2>&1
  log "building etcd $ETCD_VERSION"
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3 >&2
}

build_plain() {  # name module version
  local name=$1 mod=$2 ver=$3
  [ -x "$BIN/$name" ] && { log "$name $ver cached"; return; }
  local dir="$WORK/$name-$ver"
  mkdir -p "$dir"; cd "$dir"
  [ -f go.mod ] || go mod init "quantops.local/$name-wrapper" >/dev/null 2>&1
  log "building $name $ver"
  go get -tool "$mod@$ver" >&2
  local ld="-s -w"
  [ "$name" = helm ] && ld="$ld -X helm.sh/helm/v3/internal/version.version=$ver"
  go build -trimpath -ldflags "$ld" -o "$BIN/$name" "$mod" >&2
}

kwok_stages() {
  # kwok >= v0.8.0 has no built-in stages: copy the "fast" set from its module zip.
  [ -s "$BIN/kwok-stages.yaml" ] && return
  local dir; dir="$(cd "$WORK/kwok-$KWOK_VERSION" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  local out="$BIN/kwok-stages.yaml.tmp"; : > "$out"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml \
           pod/chaos/pod-container-running-failed.yaml; do
    [ -f "$dir/kustomize/stage/$f" ] || { log "missing kwok stage $f"; exit 1; }
    printf -- '---\n' >> "$out"; cat "$dir/kustomize/stage/$f" >> "$out"; printf '\n' >> "$out"
  done
  mv "$out" "$BIN/kwok-stages.yaml"
}

build_etcd
build_plain kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
kwok_stages
build_plain helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
build_plain promtool github.com/prometheus/prometheus/cmd/promtool "$PROMTOOL_VERSION"  # `check metrics`
build_k8s
echo "$BIN"
