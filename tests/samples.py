"""Helpers to read crds/samples for tests (valid platform and the invalid set with expectations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "crds" / "samples"


def valid_docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        out += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def invalid_samples() -> list[tuple[Path, str]]:
    """(file, expected text in the error) from each file's `# expect:` header."""
    out = []
    for path in sorted((SAMPLES / "invalid").glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# expect: "), f"{path} lacks an '# expect:' header"
        out.append((path, first.removeprefix("# expect: ").strip()))
    return out
