"""``examples/django_app`` runs as a project would, and the Django guide shows it as it is.

The example runs in a child process with its own settings: ``manage.py
migrate`` gives its database rindle's tables, ``manage.py check`` finds
nothing to report, and ``manage.py test`` (Django's test runner, its test
database made by ``migrate``) passes the project's own upload tests.
docs/guides/django.md includes the example's files with pymdownx.snippets;
every inclusion names an existing file and section, and every block titled
with a file includes that file.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import doc_snippets
from doc_snippets import INCLUDE, MARKER, TITLED, included
from rindle_core import Database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "django_app"
GUIDE = ROOT / "docs" / "guides" / "django.md"


def manage(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "RINDLE_"))
    }
    env.update(EXAMPLE_DATA=str(data), EXAMPLE_URL="http://testserver")
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_migrate_gives_the_projects_database_rindles_tables(tmp_path: Path) -> None:
    done = manage(tmp_path, "migrate", "--no-input")
    assert done.returncode == 0, done.stderr
    assert "Applying rindle.0001_rindle_schema_0003... OK" in done.stdout
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        assert database.has_tables()
        assert database.schema_revision() == database.head_revision()
    finally:
        database.close()


def test_the_example_passes_its_checks_and_its_own_tests(tmp_path: Path) -> None:
    checked = manage(tmp_path, "check")
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout
    pending = manage(tmp_path, "makemigrations", "--check", "--dry-run")
    assert pending.returncode == 0, pending.stdout + pending.stderr
    tested = manage(tmp_path, "test", "uploads", "--no-input")
    assert tested.returncode == 0, tested.stderr
    assert re.search(r"Ran [4-9] tests", tested.stderr), tested.stderr
    assert "\nOK\n" in tested.stderr, tested.stderr


def test_the_uppy_bundle_the_page_loads_is_there() -> None:
    bundle = ROOT / "rindle_core" / "src" / "rindle_core" / "web" / "static" / "uppy"
    assert (bundle / "uppy.min.js").is_file()
    assert (bundle / "uppy.min.css").is_file()


# -- the guide ------------------------------------------------------------------------------


def inclusions() -> list[tuple[str, str | None]]:
    return doc_snippets.inclusions(GUIDE)


def test_the_guide_includes_the_example() -> None:
    assert {path for path, _ in inclusions()} == {
        "examples/django_app/mysite/settings.py",
        "examples/django_app/mysite/urls.py",
        "examples/django_app/uploads/access.py",
        "examples/django_app/uploads/templates/uploads/index.html",
        "examples/django_app/uploads/tests.py",
    }


@pytest.mark.parametrize(("path", "section"), inclusions())
def test_every_inclusion_names_a_file_and_section(path: str, section: str | None) -> None:
    assert (ROOT / path).is_file(), path
    shown = included(path, section)
    assert any(line.strip() for line in shown), f"{path}:{section} shows nothing"


def test_every_marked_section_of_the_example_is_shown() -> None:
    shown = set(inclusions())
    for file in EXAMPLE.rglob("*"):
        if not file.is_file() or file.suffix not in (".py", ".html"):
            continue
        path = str(file.relative_to(ROOT))
        for marker in MARKER.finditer(file.read_text("utf-8")):
            if marker["kind"] == "start":
                assert (path, marker["name"]) in shown, f"{path}:{marker['name']} is not shown"


def test_every_titled_block_includes_the_file_it_names() -> None:
    blocks = list(TITLED.finditer(GUIDE.read_text("utf-8")))
    assert len(blocks) == len(inclusions())
    for block in blocks:
        include = INCLUDE.fullmatch(block["first"])
        assert include is not None, f"the block titled {block['title']!r} does not include a file"
        assert include["path"] == block["title"]


def test_the_layout_lists_every_file_of_the_example() -> None:
    guide = GUIDE.read_text("utf-8")
    layout = guide[guide.index("```text\ndjango_app/") :]
    layout = layout[: layout.index("\n```\n")]
    files = [p for p in EXAMPLE.rglob("*") if p.is_file() and p.suffix in (".py", ".html")]
    missing = [p.name for p in files if p.name != "__init__.py" and p.name not in layout]
    assert missing == []


def test_the_built_guide_shows_every_included_line() -> None:
    site = os.environ.get("RINDLE_DOCS_SITE")
    if not site:
        pytest.skip("needs a built site: the docs session sets RINDLE_DOCS_SITE")
    page = (Path(site) / "guides" / "django" / "index.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "--8<--" not in text
    for path, section in inclusions():
        for line in included(path, section):
            assert line.rstrip() in text, f"{path}:{section}: the page lacks {line!r}"
