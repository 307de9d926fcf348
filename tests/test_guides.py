"""The framework guides show the example apps' code as it is.

docs/guides/fastapi.md and docs/guides/flask.md include the files of
examples/fastapi_app and examples/flask_app (or marked sections of them) with
pymdownx.snippets; tests/web/test_web_examples.py runs those apps. Checked
here: every inclusion names an existing file and section, every block
titled with a file includes that file, every marked section is shown, the
layout lists the example's files, and (in the docs session, with
``RINDLE_DOCS_SITE``) that the built page shows each included line.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

import doc_snippets
from doc_snippets import INCLUDE, MARKER, TITLED, included

ROOT = Path(__file__).resolve().parent.parent
#: Each guide and the example it walks through.
GUIDES = {"fastapi": "examples/fastapi_app", "flask": "examples/flask_app"}
#: The example files every guide shows, whole or by section.
SHOWN = {
    "app.py": {"broker", "authorize", "mount", "receiver", "page"},
    "rindle.toml": {None},
    "rindle.s3.toml": {None},
    "static/index.html": {"bundle"},
    "static/uploads.js": {"uppy"},
}


def guide_text(name: str) -> str:
    return (ROOT / "docs" / "guides" / f"{name}.md").read_text(encoding="utf-8")


def inclusions(name: str) -> list[tuple[str, str | None]]:
    return doc_snippets.inclusions(ROOT / "docs" / "guides" / f"{name}.md")


ALL = [(name, path, section) for name in GUIDES for path, section in inclusions(name)]


@pytest.mark.parametrize("name", GUIDES)
def test_the_guide_shows_the_example(name: str) -> None:
    example = GUIDES[name]
    shown: dict[str, set[str | None]] = {}
    for path, section in inclusions(name):
        assert path.startswith(f"{example}/"), f"{name}.md includes {path}, not its example"
        shown.setdefault(path.removeprefix(f"{example}/"), set()).add(section)
    assert shown == SHOWN


@pytest.mark.parametrize(("name", "path", "section"), ALL)
def test_every_inclusion_names_a_file_and_section(
    name: str, path: str, section: str | None
) -> None:
    assert (ROOT / path).is_file(), f"{name}.md: {path}"
    shown = included(path, section)
    assert any(line.strip() for line in shown), f"{name}.md: {path}:{section} shows nothing"


@pytest.mark.parametrize("name", GUIDES)
def test_every_marked_section_is_shown(name: str) -> None:
    """A marker no guide includes is a section the guide lost."""
    example = ROOT / GUIDES[name]
    shown = set(inclusions(name))
    for relative, sections in SHOWN.items():
        text = (example / relative).read_text(encoding="utf-8")
        marked = {m["name"] for m in MARKER.finditer(text) if m["kind"] == "start"}
        assert marked == {s for s in sections if s is not None}, relative
        assert all((f"{GUIDES[name]}/{relative}", s) in shown for s in sections)


@pytest.mark.parametrize("name", GUIDES)
def test_every_titled_block_includes_the_file_it_names(name: str) -> None:
    blocks = list(TITLED.finditer(guide_text(name)))
    assert len(blocks) == len(inclusions(name))
    for block in blocks:
        named = block["title"].split(" ")[0]
        include = INCLUDE.fullmatch(block["first"])
        assert include is not None, f"the block titled {named!r} does not include a file"
        assert include["path"] == named, f"the block titled {named!r} shows {include['path']}"


@pytest.mark.parametrize("name", GUIDES)
def test_the_layout_lists_the_examples_files(name: str) -> None:
    guide = guide_text(name)
    example = ROOT / GUIDES[name]
    layout = guide[guide.index(f"```text\n{example.name}/") :]
    layout = layout[: layout.index("\n```\n")]
    files = sorted(
        path.name
        for path in example.rglob("*")
        if path.is_file() and path.suffix in {".py", ".toml", ".html", ".js"}
    )
    assert [name for name in files if name not in layout] == []


@pytest.mark.parametrize("name", GUIDES)
def test_the_built_guide_shows_every_included_line(name: str) -> None:
    site = os.environ.get("RINDLE_DOCS_SITE")
    if not site:
        pytest.skip("needs a built site: the docs session sets RINDLE_DOCS_SITE")
    page = (Path(site) / "guides" / name / "index.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "--8<--" not in text
    for path, section in inclusions(name):
        for line in included(path, section):
            assert line.rstrip() in text, f"{path}:{section}: the page lacks {line!r}"
