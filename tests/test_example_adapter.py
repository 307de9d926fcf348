"""The guide *Write a storage adapter* shows the example package's code as it is.

docs/adapters.md includes the files of examples/rindle-memory (or marked
sections of them) with pymdownx.snippets, so its code cannot drift from the
code the example's tests run. Checked here: every inclusion names an
existing file and section, every block titled with a file includes that
file, the package layout lists every module, and (in the docs session, with
``RINDLE_DOCS_SITE``) that the built page shows each included line.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adapters.md"
EXAMPLE = ROOT / "examples" / "rindle-memory"
#: ``--8<-- "path"`` or ``--8<-- "path:section"`` on a line of its own.
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[a-z][-_0-9a-z]*))?"$', re.M)
#: A fenced block titled with a file, and its first line.
TITLED = re.compile(r'^```\w+ title="(?P<title>[^"]+)"\n(?P<first>.*)$', re.M)
MARKER = re.compile(r"--8<-- \[(?P<kind>start|end):(?P<name>[a-z][-_0-9a-z]*)\]")


def included(path: str, section: str | None) -> list[str]:
    """The lines the guide shows for one inclusion, markers left out."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    if section is not None:
        starts = [i for i, line in enumerate(lines) if f"--8<-- [start:{section}]" in line]
        ends = [i for i, line in enumerate(lines) if f"--8<-- [end:{section}]" in line]
        assert len(starts) == len(ends) == 1, f"{path}: section {section!r} is not marked once"
        assert starts[0] < ends[0], f"{path}: section {section!r} ends before it starts"
        lines = lines[starts[0] + 1 : ends[0]]
    return [line for line in lines if not MARKER.search(line)]


def inclusions() -> list[tuple[str, str | None]]:
    return [(m["path"], m["section"]) for m in INCLUDE.finditer(GUIDE.read_text("utf-8"))]


def test_the_guide_includes_the_example() -> None:
    found = inclusions()
    assert len(found) >= 10
    assert {path for path, _ in found} >= {
        "examples/rindle-memory/pyproject.toml",
        "examples/rindle-memory/src/rindle_memory/_plugin.py",
        "examples/rindle-memory/src/rindle_memory/_factory.py",
        "examples/rindle-memory/src/rindle_memory/_adapter.py",
        "examples/rindle-memory/tests/test_memory_contract.py",
        "examples/rindle-memory/tests/test_memory_broker.py",
        "examples/rindle-memory/rindle.toml",
    }


@pytest.mark.parametrize(("path", "section"), inclusions())
def test_every_inclusion_names_a_file_and_section(path: str, section: str | None) -> None:
    assert (ROOT / path).is_file(), path
    shown = included(path, section)
    assert any(line.strip() for line in shown), f"{path}:{section} shows nothing"


def test_every_titled_block_includes_the_file_it_names() -> None:
    blocks = list(TITLED.finditer(GUIDE.read_text("utf-8")))
    assert len(blocks) >= 10
    for block in blocks:
        named = block["title"].split(" ")[0]
        include = INCLUDE.fullmatch(block["first"])
        assert include is not None, f"the block titled {named!r} does not include a file"
        assert include["path"] == named, f"the block titled {named!r} shows {include['path']}"


def test_the_layout_lists_every_module() -> None:
    guide = GUIDE.read_text("utf-8")
    layout = guide[guide.index("```text\nrindle-memory/") :]
    layout = layout[: layout.index("\n```\n")]
    modules = sorted(p.name for p in (EXAMPLE / "src" / "rindle_memory").glob("*.py"))
    missing = [name for name in modules if name not in layout]
    assert missing == []


def test_the_built_guide_shows_every_included_line() -> None:
    site = os.environ.get("RINDLE_DOCS_SITE")
    if not site:
        pytest.skip("needs a built site: the docs session sets RINDLE_DOCS_SITE")
    page = (Path(site) / "adapters" / "index.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "--8<--" not in text
    for path, section in inclusions():
        for line in included(path, section):
            assert line.rstrip() in text, f"{path}:{section}: the page lacks {line!r}"
