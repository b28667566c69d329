"""Generate CustomResourceDefinitions from the pydantic models (the models are the source of truth).

Pydantic's JSON Schema is not a Kubernetes structural schema, so a small rewrite pass runs over it
(the same job kube-rs's StructuralSchemaRewriter does): refs inlined, optional fields made
"not required" instead of null unions, titles dropped, draft-2020 numeric exclusive bounds turned
into the boolean form, const into a one-element enum, free-form maps marked explicitly.

usage: python -m quantops_api.crdgen [OUT_DIR]   (default crds/generated)
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from quantops_api.meta import GROUP, VERSION, CustomResource
from quantops_api.v1alpha1.agent import Agent
from quantops_api.v1alpha1.riskpolicy import RiskPolicy
from quantops_api.v1alpha1.strategy import Strategy

KINDS: tuple[type[CustomResource], ...] = (Agent, Strategy, RiskPolicy)
_DROP = {"title", "$defs"}


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a pydantic JSON schema (with $defs) into a Kubernetes structural schema."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return walk({**target, **extra})
        if "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            if len(options) != 1:
                raise ValueError(f"unsupported union in CRD schema: {node['anyOf']}")
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            if rest.get("default") is None:
                rest.pop("default", None)
            return walk({**options[0], **rest})
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP:
                continue
            if key == "properties":
                out[key] = {name: walk(sub) for name, sub in value.items()}
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                out[bound] = value
                out[key] = True
            elif key == "const":
                out["enum"] = [value]
            elif key == "additionalProperties":
                if isinstance(value, dict):
                    out[key] = walk(value)
                # `false` is what pruning already does; `true` becomes preserve-unknown-fields.
                elif value is True and not node.get("x-kubernetes-preserve-unknown-fields"):
                    out["x-kubernetes-preserve-unknown-fields"] = True
            else:
                out[key] = walk(value)
        if "enum" in out and "type" not in out:
            out["type"] = "string"
        return out

    result: dict[str, Any] = walk({k: v for k, v in schema.items() if k != "$defs"})
    return result


def crd_for(kind: type[CustomResource]) -> dict[str, Any]:
    fields = kind.model_fields
    spec_model = fields["spec"].annotation
    status_ann = fields["status"].annotation
    status_model = next(a for a in getattr(status_ann, "__args__", ()) if a is not type(None))
    spec = structural(spec_model.model_json_schema(by_alias=True))  # type: ignore[union-attr]
    status = structural(status_model.model_json_schema(by_alias=True))
    schema = {
        "type": "object",
        "description": (kind.__doc__ or kind.kind_name).strip().splitlines()[0],
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind_name,
                "listKind": f"{kind.kind_name}List",
                "plural": kind.plural,
                "singular": kind.kind_name.lower(),
                "shortNames": list(kind.short_names),
                "categories": list(kind.categories),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in kind.printer_columns],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def render(kind: type[CustomResource]) -> str:
    """YAML-compatible JSON text (stable key order) so the generator needs no YAML library."""
    header = "# Generated by `python -m quantops_api.crdgen` from the pydantic models. Do not edit.\n"
    return header + json.dumps(crd_for(kind), indent=2, sort_keys=False) + "\n"


def file_name(kind: type[CustomResource]) -> str:
    return f"{GROUP}_{kind.plural}.yaml"


def write_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in KINDS:
        path = out_dir / file_name(kind)
        path.write_text(render(kind))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    for p in write_all(Path(args[0] if args else "crds/generated")):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
