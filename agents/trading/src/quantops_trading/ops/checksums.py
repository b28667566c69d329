"""Checksum manifest of the startup files, read side (roadmap 10).

Why it exists: a startup script or the lock file changed without review is how a host ends up
running something nobody approved. ``scripts/CHECKSUMS.sha256`` records the sha256 of
``scripts/*.sh``, ``scripts/*.py`` and ``requirements.lock``. ``scripts/checksums.sh`` writes and
verifies it *before* any Python runs (a fresh host has no venv yet); this module is the same check
for the preflight report and the unit test that keeps the committed manifest current. Both produce
byte-identical manifests (a test holds them to it).

What it must not do: update the manifest on its own during a start. Regenerating is a deliberate,
reviewed act: ``scripts/checksums.sh update`` (or ``write_manifest``), then commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MANIFEST",
    "UPDATE_COMMAND",
    "ChecksumDiff",
    "ChecksumReport",
    "compute",
    "manifest_text",
    "read_manifest",
    "tracked_files",
    "verify",
    "write_manifest",
]

MANIFEST = "scripts/CHECKSUMS.sha256"
UPDATE_COMMAND = "scripts/checksums.sh update"
HEADER = (
    "# sha256 of startup scripts and the lock."
    " Regenerate after an intended change: scripts/checksums.sh update"
)


@dataclass(frozen=True)
class ChecksumDiff:
    path: str
    kind: str  # "changed" | "added" | "removed"
    expected: str | None
    actual: str | None


@dataclass(frozen=True)
class ChecksumReport:
    manifest: str
    checked: int
    diffs: tuple[ChecksumDiff, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.diffs

    def render(self) -> str:
        """The same human report as ``scripts/checksums.sh verify``."""
        if self.error:
            return f"checksums: {self.error}"
        if not self.diffs:
            return f"checksums: ok ({self.checked} files match {self.manifest})"
        lines = [
            f"checksums: MISMATCH in {len(self.diffs)} startup file(s) since {self.manifest} was generated:"
        ]
        for d in self.diffs:
            label = {"added": " (not in the manifest)", "removed": " (in the manifest, file missing)"}
            lines.append(f"  {d.kind:<8} {d.path}{label.get(d.kind, '')}")
            lines.append(f"    - expected {d.expected or '(none)'}")
            lines.append(f"    + actual   {d.actual or '(none)'}")
        lines.append(
            "checksums: if the change is intended, review it,"
            f" run '{UPDATE_COMMAND}' and commit {self.manifest}"
        )
        return "\n".join(lines)


def tracked_files(root: Path) -> list[str]:
    """Repo-relative paths the manifest covers, sorted bytewise like ``LC_ALL=C sort``."""
    scripts = root / "scripts"
    found = [p for pattern in ("*.sh", "*.py") for p in scripts.glob(pattern) if p.is_file()]
    rel = [p.relative_to(root).as_posix() for p in found]
    if (root / "requirements.lock").is_file():
        rel.append("requirements.lock")
    return sorted(rel, key=lambda s: s.encode())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def compute(root: Path) -> dict[str, str]:
    return {rel: _sha256(root / rel) for rel in tracked_files(root)}


def manifest_text(root: Path) -> str:
    return HEADER + "\n" + "".join(f"{h}  {rel}\n" for rel, h in compute(root).items())


def write_manifest(root: Path) -> Path:
    target = root / MANIFEST
    tmp = target.with_suffix(".tmp")
    tmp.write_text(manifest_text(root), encoding="utf-8")
    tmp.replace(target)
    return target


def read_manifest(path: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, rel = line.partition("  ")
        entries[rel.strip()] = digest.strip()
    return entries


def verify(root: Path) -> ChecksumReport:
    manifest = root / MANIFEST
    try:
        expected = read_manifest(manifest)
    except OSError:
        return ChecksumReport(MANIFEST, 0, (), error=f"no manifest at {MANIFEST}; run {UPDATE_COMMAND}")
    actual = compute(root)
    diffs = []
    for rel in sorted(expected.keys() | actual.keys(), key=lambda s: s.encode()):
        want, got = expected.get(rel), actual.get(rel)
        if want == got:
            continue
        kind = "added" if want is None else "removed" if got is None else "changed"
        diffs.append(ChecksumDiff(rel, kind, want, got))
    return ChecksumReport(MANIFEST, len(expected), tuple(diffs))
