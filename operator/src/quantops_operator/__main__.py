"""`python -m quantops_operator [--namespace NS]`: run the operator (kopf) and nothing else."""

from __future__ import annotations

import argparse
import os

import kopf

from quantops_operator import controllers  # noqa: F401  (registers the handlers)


def main() -> None:
    ap = argparse.ArgumentParser(prog="quantops-operator")
    ap.add_argument("--namespace", default=os.environ.get("QUANTOPS_NAMESPACE", "default"))
    ap.add_argument("--liveness", default="http://0.0.0.0:8080/healthz")
    ns = ap.parse_args()
    kopf.configure(verbose=False, log_prefix=True)  # "[namespace/name]" on every object's line
    kopf.run(standalone=True, namespaces=[ns.namespace], liveness_endpoint=ns.liveness)


if __name__ == "__main__":
    main()
