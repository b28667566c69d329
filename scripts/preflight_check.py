#!/usr/bin/env python3
"""usage: scripts/preflight_check.py [--root DIR] [--config FILE] [--only|--skip CHECK] [--output FILE]

Health preflight (roadmap 6): prints a quantops.preflight/v1 JSON report on stdout and a summary on
stderr. Exit codes: 0 all ok, 1 warnings, 2 failures, 3 usage error. The logic lives in
quantops_trading.ops.preflight; this file stays thin so the same checks run from Python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

try:
    from quantops_trading.ops.preflight import main
except ImportError as exc:  # no venv yet: still answer in the documented schema, as a failure
    report = {
        "schema": "quantops.preflight/v1",
        "status": "fail",
        "exit_code": 2,
        "root": str(ROOT),
        "checks": {
            "dependencies": {
                "status": "fail",
                "summary": f"quantops_trading not importable ({exc}); run scripts/install.sh",
                "details": {"executable": sys.executable},
                "duration_ms": 0.0,
            }
        },
    }
    print(json.dumps(report, indent=2))
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], default_root=ROOT))
