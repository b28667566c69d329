"""``python -m quantops_trading.ops <command>``: the operational checks from one entry point.

Commands: ``preflight`` (same as scripts/preflight_check.py), ``drift`` (environment drift report),
``checksums`` (verify the startup-file manifest; ``scripts/checksums.sh update`` regenerates it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from quantops_trading.ops import checksums, drift, preflight
from quantops_trading.paths import repo_root

USAGE = "usage: python -m quantops_trading.ops {preflight|drift|checksums} [args...]"


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE, file=sys.stderr)
        return 0 if argv else 3
    command, rest = argv[0], list(argv[1:])
    if command == "preflight":
        return preflight.main(rest)
    if command == "drift":
        return drift.main(rest)
    if command == "checksums":
        report = checksums.verify(repo_root())
        print(report.render(), file=sys.stderr)
        return 0 if report.ok else 1
    print(USAGE, file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
