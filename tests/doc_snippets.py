"""What a guide shows of the files it includes with ``pymdownx.snippets``.

The guides (``docs/adapters.md``, ``docs/guides/*.md``) include example files
whole or by marked section; their tests check every include resolves and the
built page shows every included line.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: ``--8<-- "path"`` or ``--8<-- "path:section"`` on a line of its own.
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[a-z][-_0-9a-z]*))?"$', re.M)
#: A fenced block titled with a file, and its first line.
TITLED = re.compile(r'^```[\w+]+ title="(?P<title>[^"]+)"\n(?P<first>.*)$', re.M)
MARKER = re.compile(r"--8<-- \[(?P<kind>start|end):(?P<name>[a-z][-_0-9a-z]*)\]")


def included(path: str, section: str | None) -> list[str]:
    """The lines a guide shows for one inclusion, markers left out."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    if section is not None:
        starts = [i for i, line in enumerate(lines) if f"--8<-- [start:{section}]" in line]
        ends = [i for i, line in enumerate(lines) if f"--8<-- [end:{section}]" in line]
        assert len(starts) == len(ends) == 1, f"{path}: section {section!r} is not marked once"
        assert starts[0] < ends[0], f"{path}: section {section!r} ends before it starts"
        lines = lines[starts[0] + 1 : ends[0]]
    return [line for line in lines if not MARKER.search(line)]


def inclusions(guide: Path) -> list[tuple[str, str | None]]:
    """Every ``(path, section)`` the guide includes, in order."""
    return [(m["path"], m["section"]) for m in INCLUDE.finditer(guide.read_text("utf-8"))]
