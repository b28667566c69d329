#!/usr/bin/env bash
# usage: scripts/system-packages.sh [--list] [GROUP...]
# Installs the Debian packages the project's scripts and tests call, idempotently: a command that
# is already on PATH is left alone; the missing ones are installed with one apt-get call (root).
# A fresh machine has none of them, so nothing here may be assumed installed by hand.
# GROUP selects a subset (default: all): images, node, browser, tools.
#   --list   prints "group command package" lines (the test that keeps this list complete reads it)
# Exit 1 when a command is missing and cannot be installed (no apt-get or not root), naming it.
set -euo pipefail

# group    command       Debian package               who needs it
REQUIRED="
images     debootstrap   debootstrap                  hack/build-images.sh (the base image)
images     dockerd       docker.io                    hack/docker-daemon.sh (image builds)
node       containerd    containerd                   hack/realnode.py (the real node's runtime)
node       ctr           containerd                   hack/realnode.py (image import)
node       runc          runc                         hack/realnode.py (OCI runtime)
node       iptables      iptables                     kube-proxy, the pod bridge's forward rules
node       conntrack     conntrack                    kube-proxy (stale UDP entries)
node       ip            iproute2                     hack/realnode.py (bridge), network namespaces
node       /usr/lib/cni/bridge containernetworking-plugins  the real node's pod network (CNI)
browser    chromium      chromium                     tests/local/test_dashboard.py
tools      flock         util-linux                   build locks in hack/
tools      curl          curl                         hack/kind-e2e.sh
"

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "$REQUIRED" | awk 'NF >= 3 {print $1, $2, $3}'
  exit 0
fi
groups=("$@")

present() {  # a command on PATH, or an absolute path that exists
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
while read -r group cmd pkg _; do
  [ -n "${group:-}" ] || continue
  if [ ${#groups[@]} -gt 0 ] && ! printf '%s\n' "${groups[@]}" | grep -qx "$group"; then continue; fi
  present "$cmd" || missing+=("$pkg")
done <<<"$REQUIRED"

[ ${#missing[@]} -gt 0 ] || exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "system-packages: missing ${missing[*]} and cannot install them (needs apt-get as root)" >&2
  exit 1
fi
echo "system-packages: installing ${missing[*]}" >&2
exec 9>/var/lock/quantops-apt.lock
flock 9
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
still=()
while read -r group cmd pkg _; do
  [ -n "${group:-}" ] || continue
  if [ ${#groups[@]} -gt 0 ] && ! printf '%s\n' "${groups[@]}" | grep -qx "$group"; then continue; fi
  present "$cmd" || still+=("$cmd ($pkg)")
done <<<"$REQUIRED"
[ ${#still[@]} -eq 0 ] || { echo "system-packages: still missing after install: ${still[*]}" >&2; exit 1; }
