#!/usr/bin/env bash
# usage: hack/vendor-uplot.sh [VERSION]
# Vendors uPlot (MIT) from the npm registry into the dashboard's static files: the page must work
# without any CDN at run time (the platform runs where no internet is reachable). The tarball is
# checked against the registry's sha512 integrity before anything is unpacked; the files' sha256
# go into SHA256SUMS, which tests/unit/observability/test_dashboard_static.py verifies.
set -euo pipefail
VERSION="${1:-1.6.32}"
REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org}"
DEST="$(cd "$(dirname "$0")/.." && pwd)/agents/trading/src/quantops_trading/observability/static/uplot"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
curl -fsSL "$REGISTRY/uplot/$VERSION" -o "$TMP/meta.json"
read -r URL INTEGRITY < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["dist"]; print(d["tarball"], d["integrity"])' "$TMP/meta.json")
curl -fsSL "$URL" -o "$TMP/uplot.tgz"
python3 - "$TMP/uplot.tgz" "$INTEGRITY" <<'PY'
import base64, hashlib, sys
algo, _, want = sys.argv[2].partition("-")
got = base64.b64encode(hashlib.new(algo, open(sys.argv[1], "rb").read()).digest()).decode()
sys.exit(0 if got == want else f"integrity mismatch: {sys.argv[2]} != {algo}-{got}")
PY
tar xzf "$TMP/uplot.tgz" -C "$TMP"
mkdir -p "$DEST"
cp "$TMP/package/dist/uPlot.iife.min.js" "$TMP/package/dist/uPlot.min.css" "$TMP/package/LICENSE" "$DEST/"
cd "$DEST"
sha256sum uPlot.iife.min.js uPlot.min.css LICENSE > SHA256SUMS
echo "uplot $VERSION $INTEGRITY" > VERSION
cat VERSION
