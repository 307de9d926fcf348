"""The docs stay true to the code: state tables, commands, configuration keys."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path

import click
import pytest

from rindle_core._config_file import _PROFILE_KEYS, _TOP_KEYS
from rindle_core.cli import cli
from rindle_core.states import ASSET_TRANSITIONS, JOB_TRANSITIONS, SESSION_TRANSITIONS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def table_under(markdown: str, heading: str) -> dict[str, set[str]]:
    """The ``| `from` | `to`, `to` |`` rows of the first table after *heading*."""
    section = markdown.split(f"\n{heading}\n", 1)[1]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        if rows and not line.startswith("|"):
            break
        match = re.fullmatch(r"\| `(\w+)` \| (.*) \|", line)
        if match:
            rows[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return rows


@pytest.mark.parametrize(
    ("heading", "table"),
    [
        ("### Upload session", SESSION_TRANSITIONS),
        ("### Asset", ASSET_TRANSITIONS),
        ("### Job (the outbox)", JOB_TRANSITIONS),
    ],
)
def test_concepts_state_tables_match_states_py(
    heading: str, table: Mapping[Enum, frozenset[Enum]]
) -> None:
    documented = table_under((DOCS / "concepts.md").read_text(), heading)
    assert documented == {
        state.value: {target.value for target in targets} for state, targets in table.items()
    }


def commands(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


@pytest.mark.parametrize(("name", "command"), sorted(commands()), ids=lambda v: str(v))
def test_cli_reference_documents_every_command_and_option(
    name: str, command: click.Command
) -> None:
    text = (DOCS / "cli.md").read_text()
    (section,) = [
        part for part in text.split("\n## ") if f"`rindle {name}`" in part.splitlines()[0]
    ]
    for param in command.params:
        for opt in param.opts:
            if opt.startswith("--") and opt != "--help":
                assert opt in section, f"{opt} of rindle {name} is not documented"


@pytest.mark.parametrize("key", [*_TOP_KEYS, *_PROFILE_KEYS])
def test_configuration_reference_documents_every_key(key: str) -> None:
    assert f"| `{key}` |" in (DOCS / "configuration.md").read_text()
