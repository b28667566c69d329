#!/usr/bin/env bash
# usage: hack/docker-daemon.sh
# Makes sure a Docker engine answers on the default socket: if `docker info` already works it does
# nothing; otherwise it installs Debian's docker.io when missing (scripts/system-packages.sh) and starts dockerd
# in the background (log: ~/.cache/quantops/images/dockerd.log), then waits for the socket.
# Idempotent and safe to call from several processes: a lock serialises the start-up.
set -euo pipefail
CACHE="${QUANTOPS_IMAGE_CACHE:-$HOME/.cache/quantops/images}"
mkdir -p "$CACHE"
LOG="$CACHE/dockerd.log"
TIMEOUT="${QUANTOPS_DOCKERD_TIMEOUT:-60}"

if docker info >/dev/null 2>&1; then
  exit 0
fi

bash "$(dirname "$0")/../scripts/system-packages.sh" images

exec 9>"$CACHE/dockerd.lock"
flock 9
if ! docker info >/dev/null 2>&1; then
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "docker-daemon: starting dockerd needs root" >&2; exit 1; }
    echo "docker-daemon: starting dockerd (log: $LOG)" >&2
    # setsid: the daemon outlives this script and the test run that called it. 8>&- 9>&-: it must
    # not inherit this script's lock (9) nor build-images.sh's (8): a daemon holding them would
    # block every later build and daemon check for as long as it runs.
    setsid dockerd >>"$LOG" 2>&1 </dev/null 8>&- 9>&- &
    echo $! >"$CACHE/dockerd.pid"
  fi
  for _ in $(seq 1 "$((TIMEOUT * 4))"); do
    docker info >/dev/null 2>&1 && break
    sleep 0.25
  done
fi
if ! docker info >/dev/null 2>&1; then
  echo "docker-daemon: dockerd did not answer within ${TIMEOUT}s; last log lines:" >&2
  tail -n 30 "$LOG" >&2 || true
  exit 1
fi
echo "docker-daemon: ready ($(docker version --format '{{.Server.Version}}'))" >&2
