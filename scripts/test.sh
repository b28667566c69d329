#!/usr/bin/env bash
# usage: scripts/test.sh [pytest args...]
# Sets everything up on a fresh machine and runs every check and test: the venv (scripts/install.sh),
# the control plane built from Go modules (hack/build-control-plane.sh, cached outside the repo),
# ruff, mypy, the import-layering contracts, then pytest. Exits non-zero on any failure, including
# pytest's "no tests collected" (exit 5).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

step "Debian packages the scripts and tests call (scripts/system-packages.sh; skipped when present)"
bash scripts/system-packages.sh
step "install (venv + pinned dependencies)"
bash scripts/install.sh
step "control plane binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm)"
bash hack/build-control-plane.sh >/dev/null
step "real node binaries (kubelet, kube-proxy, pause; containerd/runc/CNI are Debian's)"
bash hack/build-node.sh >/dev/null
step "container images (dockerd started if absent; debootstrap base, operator + agent images; cached)"
bash hack/docker-daemon.sh && bash hack/build-images.sh
step "ruff"
.venv/bin/ruff check .
step "mypy --strict"
.venv/bin/mypy crds/src operator/src agents/trading/src agents/local/src
step "import layering (import-linter)"
.venv/bin/lint-imports
step "pytest"
set +e
.venv/bin/pytest -p no:cacheprovider --durations=15 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose (a run that tests nothing must not pass)" >&2
  exit 1
fi
exit "$rc"
