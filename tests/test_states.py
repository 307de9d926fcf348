"""The state machines: every allowed edge reachable, every other refused, terminals absorbing.

Two kinds of oracle: the designed tables (DESIGN.md, restated here), and
properties any sound lifecycle has whatever its table says: every state
reachable from the initial one, a terminal state reachable from every
other, terminal states absorbing. That no state is dead in the code (never
written) is checked by ``test_fsm_writes.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rindle_core import AssetState, InvalidTransition, JobState, SessionState, transition
from rindle_core.states import (
    ASSET_TRANSITIONS,
    JOB_TRANSITIONS,
    SESSION_TRANSITIONS,
    is_terminal,
)

DESIGN_SESSION_EDGES = {
    "initialized": {"signed", "aborted", "expired", "failed"},
    "signed": {"resuming", "uploading", "uploaded", "verifying", "aborted", "expired", "failed"},
    "resuming": {"uploading", "aborted", "expired", "failed"},
    "uploading": {"uploaded", "verifying", "aborted", "expired", "failed"},
    "uploaded": {"verifying"},
    "verifying": {"completed", "failed"},
    "completed": set(),
    "aborted": set(),
    "expired": set(),
    "failed": set(),
}
DESIGN_ASSET_EDGES = {
    "staged": {"validating", "abandoned"},  # abandoned: ADR 0003
    "validating": {"analyzing"},
    "analyzing": {"promoting", "quarantined"},
    "promoting": {"available"},
    "available": {"processing", "quarantined", "deleted"},  # deleted: delete_asset, ADR 0117
    "processing": {"ready", "quarantined"},
    "ready": {"degraded", "deleted"},
    "degraded": {"quarantined", "deleted"},
    "quarantined": {"deleted"},
    "abandoned": {"deleted"},
    "deleted": set(),
}


#: Jobs (DESIGN.md "Jobs"): a retry or a lost lease puts a running job back to
#: pending; an operator may retry a failed one.
DESIGN_JOB_EDGES = {
    "pending": {"running"},
    "running": {"succeeded", "pending", "failed"},
    "succeeded": set(),
    "failed": {"pending"},
}


def _as_strings(table: dict) -> dict[str, set[str]]:  # type: ignore[type-arg]
    return {k.value: {v.value for v in vs} for k, vs in table.items()}


def test_session_table_is_the_designed_one() -> None:
    assert _as_strings(dict(SESSION_TRANSITIONS)) == DESIGN_SESSION_EDGES


def test_asset_table_is_the_designed_one() -> None:
    assert _as_strings(dict(ASSET_TRANSITIONS)) == DESIGN_ASSET_EDGES


def test_job_table_is_the_designed_one() -> None:
    assert _as_strings(dict(JOB_TRANSITIONS)) == DESIGN_JOB_EDGES


def test_machines_cannot_be_mixed() -> None:
    with pytest.raises(InvalidTransition):
        transition(SessionState.SIGNED, AssetState.VALIDATING)  # type: ignore[type-var]


def test_invalid_transition_names_both_states() -> None:
    with pytest.raises(InvalidTransition) as info:
        transition(SessionState.COMPLETED, SessionState.SIGNED)
    assert (info.value.from_state, info.value.to_state) == ("completed", "signed")
    assert "completed" in str(info.value) and "signed" in str(info.value)


def _machine_test(
    states: type[StrEnum], design: dict[str, set[str]], initial: StrEnum
) -> type[RuleBasedStateMachine]:
    """Random walks checked against the *designed* edges, not the module's table."""

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.state = initial

        @rule(to=st.sampled_from(list(states)))
        def attempt(self, to: StrEnum) -> None:
            if to.value in design[self.state.value]:
                assert transition(self.state, to) is to  # type: ignore[type-var]
                self.state = to
            else:
                with pytest.raises(InvalidTransition):
                    transition(self.state, to)  # type: ignore[type-var]

        @precondition(lambda self: not design[self.state.value])
        @rule(to=st.sampled_from(list(states)))
        def terminal_is_absorbing(self, to: StrEnum) -> None:
            assert is_terminal(self.state)  # type: ignore[arg-type]
            with pytest.raises(InvalidTransition):
                transition(self.state, to)  # type: ignore[type-var]

        @rule(start=st.sampled_from(list(states)))
        def restart_anywhere(self, start: StrEnum) -> None:
            # Jump to any state so that edges from every state get exercised.
            self.state = start

        @invariant()
        def state_is_known(self) -> None:
            assert self.state.value in design

    return Machine


SessionMachine = _machine_test(SessionState, DESIGN_SESSION_EDGES, SessionState.INITIALIZED)
AssetMachine = _machine_test(AssetState, DESIGN_ASSET_EDGES, AssetState.STAGED)
JobMachine = _machine_test(JobState, DESIGN_JOB_EDGES, JobState.PENDING)

TestSessionMachine = SessionMachine.TestCase
TestAssetMachine = AssetMachine.TestCase
TestJobMachine = JobMachine.TestCase


@pytest.mark.parametrize(
    ("states", "design"),
    [
        (SessionState, DESIGN_SESSION_EDGES),
        (AssetState, DESIGN_ASSET_EDGES),
        (JobState, DESIGN_JOB_EDGES),
    ],
    ids=["session", "asset", "job"],
)
def test_every_designed_edge_is_allowed_and_every_other_refused(
    states: type[StrEnum], design: dict[str, set[str]]
) -> None:
    """Exhaustive over every pair (the random walks above sample; this covers all)."""
    for current in states:
        for target in states:
            if target.value in design[current.value]:
                assert transition(current, target) is target  # type: ignore[type-var]
            else:
                with pytest.raises(InvalidTransition):
                    transition(current, target)  # type: ignore[type-var]


@pytest.mark.parametrize("state", list(SessionState))
def test_terminal_session_states_have_no_exit(state: SessionState) -> None:
    terminal = state.value in {"completed", "aborted", "expired", "failed"}
    assert is_terminal(state) is terminal


# -- properties independent of the table's contents ------------------------------------

#: Where each lifecycle starts (what the inserts write) and where it may end.
INITIAL: dict[str, StrEnum] = {
    "session": SessionState.INITIALIZED,
    "asset": AssetState.STAGED,
    "job": JobState.PENDING,
}
TERMINAL: dict[str, set[str]] = {
    "session": {"completed", "aborted", "expired", "failed"},
    "asset": {"deleted"},
    "job": {"succeeded"},
}
TABLES: dict[str, Mapping[StrEnum, frozenset[StrEnum]]] = {
    "session": SESSION_TRANSITIONS,  # type: ignore[dict-item]
    "asset": ASSET_TRANSITIONS,  # type: ignore[dict-item]
    "job": JOB_TRANSITIONS,  # type: ignore[dict-item]
}
ENUMS: dict[str, type[StrEnum]] = {"session": SessionState, "asset": AssetState, "job": JobState}
MACHINES = sorted(TABLES)


def _reachable(table: Mapping[StrEnum, frozenset[StrEnum]], start: StrEnum) -> set[StrEnum]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in table[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("machine", MACHINES)
def test_the_table_covers_exactly_the_enum(machine: str) -> None:
    table = TABLES[machine]
    assert set(table) == set(ENUMS[machine])
    assert all(t in table for targets in table.values() for t in targets)


@pytest.mark.parametrize("machine", MACHINES)
def test_every_state_is_reachable_from_the_initial_one(machine: str) -> None:
    unreachable = set(ENUMS[machine]) - _reachable(TABLES[machine], INITIAL[machine])
    assert not unreachable, f"{machine}: no path from the initial state to {sorted(unreachable)}"


@pytest.mark.parametrize("machine", MACHINES)
def test_every_state_can_reach_a_terminal_one(machine: str) -> None:
    table = TABLES[machine]
    stuck = {
        s.value
        for s in ENUMS[machine]
        if not {t.value for t in _reachable(table, s)} & TERMINAL[machine]
    }
    assert not stuck, f"{machine}: {sorted(stuck)} can never finish"


@pytest.mark.parametrize("machine", MACHINES)
def test_the_terminal_states_are_the_designed_ones(machine: str) -> None:
    terminal = {s.value for s in ENUMS[machine] if is_terminal(s)}  # type: ignore[arg-type]
    assert terminal == TERMINAL[machine]


@pytest.mark.parametrize(
    ("machine", "state"),
    [(m, s) for m in MACHINES for s in sorted(TERMINAL[m])],
)
def test_terminal_states_are_absorbing(machine: str, state: str) -> None:
    """No move out of a terminal state, not even to itself (checked by name, not table)."""
    current = ENUMS[machine](state)
    for target in ENUMS[machine]:
        with pytest.raises(InvalidTransition):
            transition(current, target)  # type: ignore[type-var]


@pytest.mark.parametrize("machine", MACHINES)
def test_no_state_moves_to_itself(machine: str) -> None:
    """A self-loop would let a compare-and-set "succeed" without changing anything."""
    for state in ENUMS[machine]:
        with pytest.raises(InvalidTransition):
            transition(state, state)  # type: ignore[type-var]
