#!/usr/bin/env bash
# usage: hack/vendor-uplot.sh [VERSION]
# Vendors uPlot (MIT) from the npm registry into the dashboard's static files: the page must work
# without any CDN at run time (the platform runs where no internet is reachable). `npm pack`
# checks the tarball against the registry's sha512 integrity; the files' sha256 go into
# SHA256SUMS, which tests/unit/observability/test_dashboard_static.py verifies.
set -euo pipefail
VERSION="${1:-1.6.32}"
DEST="$(cd "$(dirname "$0")/.." && pwd)/agents/trading/src/quantops_trading/observability/static/uplot"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
npm pack "uplot@$VERSION" --json > pack.json
tar xzf "uplot-$VERSION.tgz"
mkdir -p "$DEST"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$DEST/"
cd "$DEST"
sha256sum uPlot.iife.min.js uPlot.min.css LICENSE > SHA256SUMS
echo "uplot $VERSION $(python3 -c 'import json;print(json.load(open("'"$TMP"'/pack.json"))[0]["integrity"])')" > VERSION
cat VERSION
