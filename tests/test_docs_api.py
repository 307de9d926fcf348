"""The API reference renders cross-references, not raw Sphinx roles.

The docstrings use Sphinx roles (``:class:`X```); docs/_hooks/sphinx_roles.py,
a griffe extension, rewrites them into mkdocs-autorefs references at build
time. The rewriting is tested here on sample docstrings (always), on the
packages as griffe loads them (where griffe is installed), and on a built site
(where mkdocs is installed: the docs session, with ``--noconftest``; set
``RINDLE_DOCS_SITE`` to check an already built site instead of building one).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
RAW_ROLE = re.compile(r":(?:py:)?(?:class|exc|func|meth|attr|data|const|obj|mod):")


def _hook() -> ModuleType:
    path = ROOT / "docs" / "_hooks" / "sphinx_roles.py"
    spec = importlib.util.spec_from_file_location("rindle_docs_sphinx_roles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _hook()
KNOWN = {
    "Broker": "rindle_core._broker.Broker",
    "rindle_core.ConfigurationError": "rindle_core._errors.ConfigurationError",
    "head": "rindle_core.storage.StorageAdapter.head",
    "Broker.close": "rindle_core._broker.Broker.close",
}


def rewrite(text: str) -> str:
    return str(hook.rewrite_roles(text, KNOWN.get))


def link(identifier: str, shown: str) -> str:
    return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":class:`Broker`", link("rindle_core._broker.Broker", "Broker")),
        (
            "raises :class:`~rindle_core.ConfigurationError` when",
            "raises "
            + link("rindle_core._errors.ConfigurationError", "ConfigurationError")
            + " when",
        ),
        (
            ":exc:`rindle_core.ConfigurationError`",
            link("rindle_core._errors.ConfigurationError", "rindle_core.ConfigurationError"),
        ),
        (":meth:`head`", link("rindle_core.storage.StorageAdapter.head", "head()")),
        (":meth:`~Broker.close`", link("rindle_core._broker.Broker.close", "close()")),
        (":py:class:`Broker`", link("rindle_core._broker.Broker", "Broker")),
        # Unknown to the resolver (Python's, a cloud SDK's): inline code.
        (":class:`ValueError`", "`ValueError`"),
        (":class:`~sqlalchemy.Engine`", "`Engine`"),
        (":func:`build_storage`", "`build_storage()`"),
        (":mod:`._leases`", "`_leases`"),
        # Not roles: left alone.
        (":param size: the size", ":param size: the size"),
        ("``literal`` and `code`", "``literal`` and `code`"),
    ],
)
def test_roles_become_links_or_code(text: str, expected: str) -> None:
    assert rewrite(text) == expected


def test_every_role_of_a_docstring_is_rewritten() -> None:
    text = (
        "Builds a :class:`Broker`; see :meth:`Broker.close` and\n"
        ":attr:`HeadResult.version`.\n\n:param x: a :class:`ValueError` if bad\n"
    )
    out = rewrite(text)
    assert not RAW_ROLE.search(out)
    assert out.count("<autoref ") == 2
    assert "`HeadResult.version`" in out and ":param x: a `ValueError` if bad" in out


def test_a_link_text_is_escaped() -> None:
    out = str(hook.rewrite_roles(":class:`A<b>`", lambda target: "x.A<b>"))
    assert "<b>" not in out and "&lt;b&gt;" in out


def test_the_extension_is_configured_and_the_testing_kit_documented() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "- docs/_hooks/sphinx_roles.py:SphinxRoles" in config
    assert "docstring_style: sphinx" in config
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert "::: rindle_core.testing" in api


def test_griffe_loads_the_packages_with_every_role_rewritten() -> None:
    griffe = pytest.importorskip("griffe")
    extension = hook.SphinxRoles()
    loader = griffe.GriffeLoader(
        extensions=griffe.load_extensions(extension),
        search_paths=[str(ROOT / f"{name}/src") for name in ("rindle_core", "rindle_s3")],
        docstring_parser=griffe.Parser.sphinx,
    )
    core = loader.load("rindle_core")
    loader.load("rindle_s3")
    loader.resolve_aliases(implicit=False, external=False)
    left = [
        obj.path
        for obj in hook._objects(core)
        if obj.docstring is not None and RAW_ROLE.search(obj.docstring.value)
    ]
    assert left == []
    head = core["storage.StorageAdapter"].docstring.value
    assert 'identifier="rindle_core._errors.StorageNotFound"' in head


def _built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if site := os.environ.get("RINDLE_DOCS_SITE"):
        return Path(site)
    pytest.importorskip("mkdocs", reason="mkdocs is installed in the docs session")
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _built_site(tmp_path_factory)


def test_the_built_api_page_has_links_and_no_raw_roles(site: Path) -> None:
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert not RAW_ROLE.search(page), RAW_ROLE.search(page)
    assert "&lt;autoref" not in page and "<autoref" not in page
    for target in (
        "rindle_core._errors.StorageNotFound",
        "rindle_core._errors.ConfigurationError",
        "rindle_core.Broker",
        "rindle_core.storage.StorageAdapter",
    ):
        assert f'href="#{target}"' in page, target
    assert 'id="rindle_core.testing.StorageAdapterContract"' in page


def test_the_built_concepts_page_has_its_diagrams(site: Path) -> None:
    page = (site / "concepts" / "index.html").read_text(encoding="utf-8")
    assert page.count('<pre class="mermaid"><code>stateDiagram-v2') == 3
    assert page.count('<pre class="mermaid"><code>sequenceDiagram') == 3
    assert "rindle:state-diagram" not in page
