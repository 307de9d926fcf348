"""MkDocs hook: every ADR in the nav and in the ADR index, without listing them by hand.

ADRs are added by every package's authors; a hand-kept list would break the
strict build each time one lands. The ``Decisions (ADRs)`` section of the nav
is extended with every ``docs/adr/NNNN-*.md`` in order, and the index page
gets a generated list of their titles.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_SECTION = "Decisions (ADRs)"
_ADR = re.compile(r"^\d{4}-.+\.md$")


def _adrs(docs_dir: str) -> list[Path]:
    return sorted(p for p in (Path(docs_dir) / "adr").glob("*.md") if _ADR.match(p.name))


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def on_config(config: Any) -> Any:
    pages = [f"adr/{p.name}" for p in _adrs(config["docs_dir"])]
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and _SECTION in entry:
            listed = entry[_SECTION]
            entry[_SECTION] = listed + [p for p in pages if p not in listed]
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != "adr/index.md":
        return markdown
    items = [f"- [{_title(p)}]({p.name})" for p in _adrs(config["docs_dir"])]
    return markdown.rstrip() + "\n\n## All records\n\n" + "\n".join(items) + "\n"
