"""The pictures in docs/concepts.md: state diagrams generated from the FSM
tables (docs/_hooks/state_diagrams.py), and one sequence diagram per upload
strategy naming the broker's real calls.

Runs in the tests session; in the docs session too, with ``--noconftest``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rindle_core import Broker
from rindle_core.states import (
    ASSET_TRANSITIONS,
    JOB_TRANSITIONS,
    SESSION_TRANSITIONS,
    AssetState,
    is_terminal,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONCEPTS = (DOCS / "concepts.md").read_text(encoding="utf-8")
TABLES: dict[str, Any] = {
    "session": SESSION_TRANSITIONS,
    "asset": ASSET_TRANSITIONS,
    "job": JOB_TRANSITIONS,
}
EDGE = re.compile(r"^\s+(\w+) --> (\w+)(?: : .*)?$", re.M)


def _hook() -> ModuleType:
    path = DOCS / "_hooks" / "state_diagrams.py"
    spec = importlib.util.spec_from_file_location("rindle_docs_state_diagrams", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _hook()


def _edges(source: str) -> set[tuple[str, str]]:
    return set(EDGE.findall(source))


def test_the_hook_draws_every_machine_of_states_py() -> None:
    assert set(hook.MACHINES) == set(TABLES)
    for name, table in TABLES.items():
        assert hook.MACHINES[name] is table


@pytest.mark.parametrize("machine", sorted(TABLES))
def test_every_edge_of_the_table_and_no_other(machine: str) -> None:
    table = TABLES[machine]
    drawn = hook.state_diagram(machine)
    assert drawn.startswith("stateDiagram-v2\n")
    expected = {(s.value, t.value) for s, targets in table.items() for t in targets}
    assert _edges(drawn) == expected
    # Every state is drawn (all have an edge; a lone state would need declaring).
    named = {a for edge in expected for a in edge}
    assert named == {s.value for s in table}


@pytest.mark.parametrize("machine", sorted(TABLES))
def test_terminal_states_end_and_initial_states_start(machine: str) -> None:
    table = TABLES[machine]
    drawn = hook.state_diagram(machine)
    ends = set(re.findall(r"^\s+(\w+) --> \[\*\]$", drawn, re.M))
    assert ends == {s.value for s in table if is_terminal(s)}
    starts = set(re.findall(r"^\s+\[\*\] --> (\w+)", drawn, re.M))
    assert starts == set(hook.INITIAL[machine])
    assert starts <= {s.value for s in table}
    (styled,) = re.findall(r"^\s+class (\S+) terminal$", drawn, re.M)
    assert ends <= set(styled.split(","))


def test_the_asset_states_followed_only_by_reserved_ones_are_drawn_final() -> None:
    drawn = hook.state_diagram("asset")
    (styled,) = re.findall(r"^\s+class (\S+) terminal$", drawn, re.M)
    # quarantined and abandoned move on to deleted (delete_asset, ADR 0117)
    assert set(styled.split(",")) == {"deleted"}


def test_reserved_states_are_annotated_and_match_the_write_check() -> None:
    from test_fsm_writes import RESERVED as NOT_WRITTEN

    reserved = {s.value for s in NOT_WRITTEN if isinstance(s, AssetState)}
    assert set(hook.RESERVED["asset"]) == reserved
    assert set(hook.RESERVED) == {"asset"}  # no other machine has reserved states
    drawn = hook.state_diagram("asset")
    for state in reserved:
        assert f'state "{state} (reserved)" as {state}' in drawn
    (styled,) = re.findall(r"^\s+class (\S+) reserved$", drawn, re.M)
    assert set(styled.split(",")) == reserved


def test_concepts_has_one_marker_per_machine_and_the_hook_replaces_them() -> None:
    markers = hook.MARKER.findall(CONCEPTS)
    assert sorted(markers) == sorted(TABLES)
    rendered = hook.replace_markers(CONCEPTS)
    assert not hook.MARKER.search(rendered)
    assert rendered.count("```mermaid\nstateDiagram-v2\n") == 3


def test_a_marker_mentioned_inline_is_left_alone() -> None:
    text = "write `<!-- rindle:state-diagram session -->` where it belongs\n"
    assert hook.replace_markers(text) == text


def test_an_unknown_machine_fails_the_build() -> None:
    with pytest.raises(ValueError, match="unknown state machine 'robot'"):
        hook.replace_markers("<!-- rindle:state-diagram robot -->")


def test_mkdocs_renders_mermaid_and_runs_the_hook() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "- docs/_hooks/state_diagrams.py" in config
    assert "- name: mermaid" in config
    assert "format: !!python/name:pymdownx.superfences.fence_code_format" in config


# -- sequence diagrams ----------------------------------------------------------------

SEQUENCES = re.findall(r"```mermaid\n(sequenceDiagram\n.*?)```", CONCEPTS, re.S)
CALLS = re.compile(
    r"\b(initiate_\w+|sign_\w+|verify_completion|complete_multipart_upload|"
    r"multipart_status|resumable_session_status|download_url)\b"
)


def test_one_sequence_diagram_per_strategy() -> None:
    assert len(SEQUENCES) == 3
    for source in SEQUENCES:
        for who in ("Browser / client", "App (broker)", "Storage", "Worker"):
            assert f"as {who}\n" in source


@pytest.mark.parametrize(
    ("index", "calls"),
    [
        (0, {"initiate_session", "sign_url", "verify_completion", "download_url"}),
        (
            1,
            {
                "initiate_multipart_session",
                "sign_multipart_parts",
                "multipart_status",
                "complete_multipart_upload",
                "verify_completion",
            },
        ),
        (2, {"initiate_resumable_session", "resumable_session_status", "verify_completion"}),
    ],
)
def test_each_sequence_names_the_brokers_real_calls(index: int, calls: set[str]) -> None:
    named = set(CALLS.findall(SEQUENCES[index]))
    assert named == calls
    for name in named:
        assert callable(getattr(Broker, name, None)), f"Broker.{name} does not exist"
