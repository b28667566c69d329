#!/usr/bin/env bash
# usage: hack/build-images.sh [--print-tags]
# Builds the quantops container images from a locally made base image, cached and idempotent:
#   1. base      debootstrap bookworm minbase + python3 + python3-venv from the Debian mirror apt uses,
#                `docker import`ed as quantops/base:<hash>; the rootfs tarball is cached by that hash.
#   2. wheels    a wheelhouse of the project's runtime closure pinned by requirements.lock (pip
#                download --require-hashes on the host), cached by the hash of requirements.lock +
#                pyproject.toml; the image installs it with --require-hashes against the lock.
#   3. images    images/Dockerfile targets `operator` and `agent` (build arg BASE_IMAGE; the agent
#                image carries ../shared/data, or $QUANTOPS_DATA_DIR, at /opt/quantops/data), tagged
#                quantops/{operator,agent}:{dev,<appVersion>,src-<hash>}; skipped when src-<hash>
#                (base + lock + sources + Dockerfile) already exists.
# Cache: $QUANTOPS_IMAGE_CACHE (default ~/.cache/quantops/images), outside the repo. Starts dockerd
# when needed (hack/docker-daemon.sh). --print-tags prints "operator=<ref>" and "agent=<ref>" lines.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${QUANTOPS_IMAGE_CACHE:-$HOME/.cache/quantops/images}"
PY="${QUANTOPS_PYTHON:-$ROOT/.venv/bin/python}"
SUITE=bookworm
INCLUDE=python3,python3-venv,ca-certificates
RECIPE_VERSION=1   # bump when the base recipe below changes
log() { printf 'build-images: %s\n' "$*" >&2; }
mkdir -p "$CACHE"
exec 8>"$CACHE/build.lock"
flock 8   # one build at a time (parallel test sessions share the cache)

bash "$ROOT/hack/docker-daemon.sh"

mirror() {
  if [ -n "${QUANTOPS_DEBIAN_MIRROR:-}" ]; then echo "$QUANTOPS_DEBIAN_MIRROR"; return; fi
  local m
  m="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  [ -n "$m" ] || m="$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  echo "${m:-http://deb.debian.org/debian}"
}
MIRROR="$(mirror)"

# -- 1. base ---------------------------------------------------------------------------------------
BASE_HASH="$(printf '%s\n' "$SUITE" "$MIRROR" "$INCLUDE" "$RECIPE_VERSION" "$(uname -m)" | sha256sum | cut -c1-16)"
BASE_IMAGE="quantops/base:$BASE_HASH"
BASE_TAR="$CACHE/base-$BASE_HASH.tar"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  if [ ! -s "$BASE_TAR" ]; then
    bash "$ROOT/scripts/system-packages.sh" images
    rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    trap 'rm -rf -- "$rootfs"' EXIT
    log "debootstrap $SUITE minbase + $INCLUDE from $MIRROR (one-off, about a minute)"
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    # Minimal: no apt indexes, caches, docs, man pages or locales in the image.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
      "$rootfs"/usr/share/locale/* "$rootfs"/tmp/* "$rootfs"/root/.cache
    tar -C "$rootfs" --numeric-owner -cf "$BASE_TAR.partial" .
    mv -- "$BASE_TAR.partial" "$BASE_TAR"
    rm -rf -- "$rootfs"
    trap - EXIT
  fi
  log "docker import $BASE_TAR as $BASE_IMAGE"
  docker import -c 'CMD ["/bin/bash"]' -c 'ENV LANG=C.UTF-8' "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi
docker tag "$BASE_IMAGE" quantops/base:latest

# -- 2. wheels --------------------------------------------------------------------------------------
WHEEL_HASH="$(cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
WHEELS="$CACHE/wheels-$WHEEL_HASH"
if [ ! -f "$WHEELS/.complete" ]; then
  log "pip download --require-hashes: the runtime closure pinned by requirements.lock -> $WHEELS"
  rm -rf -- "$WHEELS" "$WHEELS.partial"
  mkdir -p "$WHEELS.partial"
  deps="$(mktemp -d "$CACHE/deps.XXXXXX")"
  # The runtime closure (no dev tools): pyproject's dependencies resolved with the lock's pins as
  # constraints (hashes stripped, or the resolve itself would be in hash mode), then exactly those
  # pins downloaded with the lock's hashes checked.
  lockfile() { "$PY" "$ROOT/scripts/lockfile.py" "$@"; }
  { lockfile strip "$ROOT/requirements.lock" > "$deps/constraints.txt" \
    && lockfile requires "$ROOT/pyproject.toml" runtime > "$deps/runtime.txt" \
    && "$PY" -m pip install -q --disable-pip-version-check --dry-run --ignore-installed --only-binary=:all: \
         --report "$deps/report.json" -c "$deps/constraints.txt" -r "$deps/runtime.txt" \
    && lockfile closure "$deps/report.json" > "$WHEELS.partial/closure.txt" \
    && lockfile subset "$ROOT/requirements.lock" "$WHEELS.partial/closure.txt" > "$deps/runtime.lock" \
    && "$PY" -m pip download -q --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
         -d "$WHEELS.partial" -r "$deps/runtime.lock"; } \
    || { rm -rf -- "$deps"; log "pip failed (resolving or hash-checked download of the runtime closure)"; exit 1; }
  rm -rf -- "$deps"
  touch "$WHEELS.partial/.complete"
  mv -- "$WHEELS.partial" "$WHEELS"
fi

# -- 3. images --------------------------------------------------------------------------------------
SRC_DIRS=(crds/src operator/src agents/trading/src agents/local/src)
# The market data the venue-sim replays ships in the agent image (15 MB): a pod has no ../shared.
DATA="${QUANTOPS_DATA_DIR:-$ROOT/../shared/data}"
[ -f "$DATA/SHA256SUMS" ] || { log "no market data at $DATA (set QUANTOPS_DATA_DIR)"; exit 1; }
(cd "$DATA" && sha256sum -c --quiet SHA256SUMS) || { log "market data in $DATA fails its SHA256SUMS"; exit 1; }
SRC_HASH="$(
  cd "$ROOT"
  { printf '%s\n' "$BASE_HASH" "$WHEEL_HASH"
    sha256sum "$DATA/SHA256SUMS" | cut -c1-64
    sha256sum pyproject.toml images/Dockerfile
    find "${SRC_DIRS[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
)"
APP_VERSION="$(awk -F'"' '/^appVersion:/ {print $2}' "$ROOT/helm/quantops/Chart.yaml")"
APP_VERSION="${APP_VERSION:-dev}"
have() { docker image inspect "quantops/$1:src-$SRC_HASH" >/dev/null 2>&1; }
if ! have operator || ! have agent; then
  ctx="$(mktemp -d "$CACHE/context.XXXXXX")"
  trap 'rm -rf -- "$ctx"' EXIT
  mkdir -p "$ctx/wheels" "$ctx/project" "$ctx/src"
  cp -l "$WHEELS"/*.whl "$ctx/wheels/" 2>/dev/null || cp "$WHEELS"/*.whl "$ctx/wheels/"
  # The hashes the image's --require-hashes install checks come from the repo's lock, not the cache.
  "$PY" "$ROOT/scripts/lockfile.py" subset "$ROOT/requirements.lock" "$WHEELS/closure.txt" > "$ctx/wheels/requirements.lock"
  (cd "$ROOT" && tar cf - --exclude=__pycache__ --exclude='*.pyc' pyproject.toml "${SRC_DIRS[@]}") | tar -C "$ctx/src" -xf -
  log "pip wheel: the project (sources $SRC_HASH)"
  "$PY" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w "$ctx/project" "$ctx/src" >"$CACHE/project-wheel.log" 2>&1 \
    || { tail -n 20 "$CACHE/project-wheel.log" >&2; exit 1; }
  rm -rf -- "$ctx/src"
  mkdir -p "$ctx/data"
  (cd "$DATA" && tar cf - --exclude='*/raw' --exclude=README.md .) | tar -C "$ctx/data" -xf -
  cp "$ROOT/images/Dockerfile" "$ctx/Dockerfile"
  for target in operator agent; do
    log "docker build --target $target (BASE_IMAGE=$BASE_IMAGE)"
    DOCKER_BUILDKIT=0 docker build --target "$target" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
      --label "dev.quantops.source-hash=$SRC_HASH" -t "quantops/$target:src-$SRC_HASH" "$ctx" \
      >"$CACHE/build-$target.log" 2>&1 || { tail -n 30 "$CACHE/build-$target.log" >&2; exit 1; }
  done
  rm -rf -- "$ctx"
  trap - EXIT
fi
for target in operator agent; do
  docker tag "quantops/$target:src-$SRC_HASH" "quantops/$target:dev"
  docker tag "quantops/$target:src-$SRC_HASH" "quantops/$target:$APP_VERSION"
done
# Drop images of older sources so a long-lived cache does not fill the disk.
docker images --format '{{.Repository}}:{{.Tag}}' 'quantops/*' | grep -E '^quantops/(operator|agent):src-' \
  | grep -v -- "src-$SRC_HASH\$" | xargs -r docker rmi >/dev/null 2>&1 || true
log "ready: quantops/operator:src-$SRC_HASH quantops/agent:src-$SRC_HASH (also :dev, :$APP_VERSION)"
if [ "${1:-}" = "--print-tags" ]; then
  echo "operator=quantops/operator:src-$SRC_HASH"
  echo "agent=quantops/agent:src-$SRC_HASH"
fi
