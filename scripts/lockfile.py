#!/usr/bin/env python3
"""usage: scripts/lockfile.py COMMAND ...   (standard library only: runs before any venv exists)

Reads and writes requirements.lock, the hashed pin set every installer uses with --require-hashes:
  from-report REPORT [--header FILE]   pip's --report JSON of a resolve -> lock text on stdout: one
                                       ``name==version \\`` line per distribution with the sha256 of
                                       the file pip chose (the local project itself is left out)
  strip LOCK                           the pins without hashes (a constraints file for a resolve:
                                       a hash in a constraint would put pip in hash mode)
  closure REPORT                       normalised names of the distributions a resolve installs
  subset LOCK NAMES                    the lock's entries (hashes included) for the names in the
                                       NAMES file, e.g. the runtime closure an image installs;
                                       exit 1 if a name has no pin in the lock
  requires PYPROJECT SECTION...        pyproject.toml's requirements, one per line; SECTION is
                                       runtime (dependencies), dev (the dev extra) or build
                                       (build-system requires)
  check LOCK                           exit 1, naming them, if pins lack a --hash
Exit 0 ok, 1 a check failed, 2 usage.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#\\]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def normalise(name: str) -> str:
    """PEP 503 normalisation: ``PyYAML``, ``pyyaml`` and ``py_yaml`` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text: str) -> dict[str, tuple[str, str, list[str]]]:
    """Lock text -> {normalised name: (name, version, [sha256:..., ...])}; continuation lines joined."""
    entries: dict[str, tuple[str, str, list[str]]] = {}
    logical = re.sub(r"\\\n", " ", text)
    for raw in logical.splitlines():
        line = raw.split(" #", 1)[0].strip()
        match = _PIN.match(line)
        if match:
            entries[normalise(match.group(1))] = (match.group(1), match.group(2), _HASH.findall(line))
    return entries


def render(entries: dict[str, tuple[str, str, list[str]]], header: str = "") -> str:
    out = [header.rstrip("\n")] if header else []
    for key in sorted(entries):
        name, version, hashes = entries[key]
        out.append(" \\\n".join([f"{name}=={version}", *(f"    --hash={h}" for h in hashes)]))
    return "\n".join(out) + "\n"


def from_report_items(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's installed distributions, less the local project (a ``dir_info`` source tree:
    installed separately with --no-deps, it cannot be hashed)."""
    items = report.get("install")
    if not isinstance(items, list):
        raise SystemExit("lockfile: the report has no 'install' list (pip install --dry-run --report)")
    return [i for i in items if "dir_info" not in i.get("download_info", {})]


def from_report(report: dict[str, Any]) -> dict[str, tuple[str, str, list[str]]]:
    entries: dict[str, tuple[str, str, list[str]]] = {}
    for item in from_report_items(report):
        info = item.get("download_info", {})
        meta = item["metadata"]
        digest = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest:
            raise SystemExit(f"lockfile: no sha256 for {meta['name']} {meta['version']} ({info.get('url')})")
        if not str(info.get("url", "")).endswith(".whl"):
            raise SystemExit(f"lockfile: {meta['name']} {meta['version']} is not a wheel ({info.get('url')})")
        entries[normalise(meta["name"])] = (meta["name"], meta["version"], [f"sha256:{digest}"])
    return entries


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "from-report" and len(args) in (1, 3) and (len(args) == 1 or args[1] == "--header"):
        header = _read(args[2]) if len(args) == 3 else ""
        sys.stdout.write(render(from_report(json.loads(_read(args[0]))), header))
        return 0
    if cmd == "strip" and len(args) == 1:
        entries = parse(_read(args[0]))
        sys.stdout.write("".join(f"{n}=={v}\n" for n, v, _ in (entries[k] for k in sorted(entries))))
        return 0
    if cmd == "closure" and len(args) == 1:
        names = {normalise(i["metadata"]["name"]) for i in from_report_items(json.loads(_read(args[0])))}
        sys.stdout.write("".join(f"{n}\n" for n in sorted(names)))
        return 0
    if cmd == "subset" and len(args) == 2:
        entries = parse(_read(args[0]))
        wanted = {normalise(n) for n in _read(args[1]).split()}
        missing = sorted(wanted - entries.keys())
        if missing:
            print(f"lockfile: not pinned in {args[0]}: {' '.join(missing)}", file=sys.stderr)
            return 1
        sys.stdout.write(render({k: v for k, v in entries.items() if k in wanted}))
        return 0
    if cmd == "requires" and len(args) >= 2 and set(args[1:]) <= {"runtime", "dev", "build"}:
        data = tomllib.loads(_read(args[0]))
        sections = {
            "runtime": data["project"].get("dependencies", []),
            "dev": data["project"].get("optional-dependencies", {}).get("dev", []),
            "build": data.get("build-system", {}).get("requires", []),
        }
        sys.stdout.write("".join(f"{r}\n" for part in args[1:] for r in sections[part]))
        return 0
    if cmd == "check" and len(args) == 1:
        entries = parse(_read(args[0]))
        unhashed = sorted(f"{n}=={v}" for n, v, hashes in entries.values() if not hashes)
        if unhashed or not entries:
            print(
                f"lockfile: pins without --hash in {args[0]}: {' '.join(unhashed) or '(no pins)'}",
                file=sys.stderr,
            )
            return 1
        print(f"lockfile: {len(entries)} pins, each with a hash", file=sys.stderr)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
