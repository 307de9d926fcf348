"""The state machines: every allowed edge reachable, every other refused, terminals absorbing."""

from __future__ import annotations

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
    "available": {"processing", "quarantined"},
    "processing": {"ready", "quarantined"},
    "ready": {"degraded", "deleted"},
    "degraded": {"quarantined", "deleted"},
    "quarantined": {"deleted"},
    "abandoned": {"deleted"},
    "deleted": set(),
}


def _as_strings(table: dict) -> dict[str, set[str]]:  # type: ignore[type-arg]
    return {k.value: {v.value for v in vs} for k, vs in table.items()}


def test_session_table_is_the_designed_one() -> None:
    assert _as_strings(dict(SESSION_TRANSITIONS)) == DESIGN_SESSION_EDGES


def test_asset_table_is_the_designed_one() -> None:
    assert _as_strings(dict(ASSET_TRANSITIONS)) == DESIGN_ASSET_EDGES


def test_machines_cannot_be_mixed() -> None:
    with pytest.raises(InvalidTransition):
        transition(SessionState.SIGNED, AssetState.VALIDATING)  # type: ignore[type-var]


def test_invalid_transition_names_both_states() -> None:
    with pytest.raises(InvalidTransition) as info:
        transition(SessionState.COMPLETED, SessionState.SIGNED)
    assert (info.value.from_state, info.value.to_state) == ("completed", "signed")
    assert "completed" in str(info.value) and "signed" in str(info.value)


def _machine_test(
    states: type[StrEnum],
    table: dict,
    initial: StrEnum,  # type: ignore[type-arg]
) -> type[RuleBasedStateMachine]:
    all_edges = {(a, b) for a, targets in table.items() for b in targets}

    class Machine(RuleBasedStateMachine):
        seen: set[tuple[StrEnum, StrEnum]] = set()

        def __init__(self) -> None:
            super().__init__()
            self.state = initial

        @rule(to=st.sampled_from(list(states)))
        def attempt(self, to: StrEnum) -> None:
            if to in table[self.state]:
                assert transition(self.state, to) is to  # type: ignore[type-var]
                Machine.seen.add((self.state, to))
                self.state = to
            else:
                with pytest.raises(InvalidTransition):
                    transition(self.state, to)  # type: ignore[type-var]

        @precondition(lambda self: is_terminal(self.state))
        @rule(to=st.sampled_from(list(states)))
        def terminal_is_absorbing(self, to: StrEnum) -> None:
            with pytest.raises(InvalidTransition):
                transition(self.state, to)  # type: ignore[type-var]

        @rule(start=st.sampled_from(list(states)))
        def restart_anywhere(self, start: StrEnum) -> None:
            # Jump to any state so that edges from every state get exercised.
            self.state = start

        @invariant()
        def state_is_known(self) -> None:
            assert self.state in table

    Machine.all_edges = all_edges  # type: ignore[attr-defined]
    return Machine


SessionMachine = _machine_test(SessionState, dict(SESSION_TRANSITIONS), SessionState.INITIALIZED)
AssetMachine = _machine_test(AssetState, dict(ASSET_TRANSITIONS), AssetState.STAGED)
JobMachine = _machine_test(JobState, dict(JOB_TRANSITIONS), JobState.PENDING)

TestSessionMachine = SessionMachine.TestCase
TestAssetMachine = AssetMachine.TestCase
TestJobMachine = JobMachine.TestCase


@pytest.mark.parametrize(
    "machine", [SessionMachine, AssetMachine, JobMachine], ids=["session", "asset", "job"]
)
def test_every_allowed_edge_was_reached(machine: type[RuleBasedStateMachine]) -> None:
    """Runs after the machines (same module, file order): every edge was taken."""
    from hypothesis import settings
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(max_examples=300, stateful_step_count=50))
    assert machine.seen == machine.all_edges  # type: ignore[attr-defined]


@pytest.mark.parametrize("state", list(SessionState))
def test_terminal_session_states_have_no_exit(state: SessionState) -> None:
    terminal = state.value in {"completed", "aborted", "expired", "failed"}
    assert is_terminal(state) is terminal
