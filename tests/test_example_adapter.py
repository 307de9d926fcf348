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

import doc_snippets
from doc_snippets import INCLUDE, TITLED, included

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adapters.md"
EXAMPLE = ROOT / "examples" / "rindle-memory"


def inclusions() -> list[tuple[str, str | None]]:
    return doc_snippets.inclusions(GUIDE)


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
