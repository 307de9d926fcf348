"""The two state machines, kept as data.

Every state write in rindle checks :func:`transition` first and is then
written as a compare-and-set on the row (``UPDATE … WHERE state = :expected``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, TypeVar

from ._errors import InvalidTransition

__all__ = [
    "ASSET_TRANSITIONS",
    "JOB_TRANSITIONS",
    "SESSION_TRANSITIONS",
    "AssetState",
    "JobState",
    "SessionState",
    "is_terminal",
    "transition",
]


class SessionState(StrEnum):
    """States of an upload session."""

    INITIALIZED = "initialized"
    SIGNED = "signed"
    RESUMING = "resuming"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    ABORTED = "aborted"
    EXPIRED = "expired"
    FAILED = "failed"


class AssetState(StrEnum):
    """States of an asset (the stored object an upload produces)."""

    STAGED = "staged"
    VALIDATING = "validating"
    ANALYZING = "analyzing"
    PROMOTING = "promoting"
    AVAILABLE = "available"
    PROCESSING = "processing"
    READY = "ready"
    DEGRADED = "degraded"
    QUARANTINED = "quarantined"
    #: The upload never completed (session aborted or expired); see ADR 0003.
    ABANDONED = "abandoned"
    DELETED = "deleted"


class JobState(StrEnum):
    """States of an outbox job."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


_S = SessionState
_A = AssetState
_J = JobState

SESSION_TRANSITIONS: Final[Mapping[SessionState, frozenset[SessionState]]] = {
    _S.INITIALIZED: frozenset({_S.SIGNED, _S.ABORTED, _S.EXPIRED, _S.FAILED}),
    _S.SIGNED: frozenset(
        {_S.RESUMING, _S.UPLOADING, _S.UPLOADED, _S.VERIFYING, _S.ABORTED, _S.EXPIRED, _S.FAILED}
    ),
    _S.RESUMING: frozenset({_S.UPLOADING, _S.ABORTED, _S.EXPIRED, _S.FAILED}),
    _S.UPLOADING: frozenset({_S.UPLOADED, _S.VERIFYING, _S.ABORTED, _S.EXPIRED, _S.FAILED}),
    _S.UPLOADED: frozenset({_S.VERIFYING}),
    _S.VERIFYING: frozenset({_S.COMPLETED, _S.FAILED}),
    _S.COMPLETED: frozenset(),
    _S.ABORTED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.FAILED: frozenset(),
}

ASSET_TRANSITIONS: Final[Mapping[AssetState, frozenset[AssetState]]] = {
    _A.STAGED: frozenset({_A.VALIDATING, _A.ABANDONED}),
    _A.VALIDATING: frozenset({_A.ANALYZING}),
    _A.ANALYZING: frozenset({_A.PROMOTING, _A.QUARANTINED}),
    _A.PROMOTING: frozenset({_A.AVAILABLE}),
    _A.AVAILABLE: frozenset({_A.PROCESSING, _A.QUARANTINED, _A.DELETED}),
    _A.PROCESSING: frozenset({_A.READY, _A.QUARANTINED}),
    _A.READY: frozenset({_A.DEGRADED, _A.DELETED}),
    _A.DEGRADED: frozenset({_A.QUARANTINED, _A.DELETED}),
    _A.QUARANTINED: frozenset({_A.DELETED}),
    _A.ABANDONED: frozenset({_A.DELETED}),
    _A.DELETED: frozenset(),
}

JOB_TRANSITIONS: Final[Mapping[JobState, frozenset[JobState]]] = {
    # RUNNING -> PENDING is a retry (or a lease that ran out).
    _J.PENDING: frozenset({_J.RUNNING}),
    _J.RUNNING: frozenset({_J.SUCCEEDED, _J.PENDING, _J.FAILED}),
    _J.SUCCEEDED: frozenset(),
    _J.FAILED: frozenset({_J.PENDING}),
}

_MACHINES: Final[Mapping[type, tuple[str, Mapping[Any, frozenset[Any]]]]] = {
    SessionState: ("session", SESSION_TRANSITIONS),
    AssetState: ("asset", ASSET_TRANSITIONS),
    JobState: ("job", JOB_TRANSITIONS),
}

StateT = TypeVar("StateT", SessionState, AssetState, JobState)


def transition(current: StateT, target: StateT) -> StateT:
    """Return *target* if the machine allows ``current -> target``.

    Raises :class:`InvalidTransition` otherwise. The machine is chosen by the
    states' type, so a session state can never be moved into an asset state.
    """
    if type(current) is not type(target):
        raise InvalidTransition(str(current), str(target), machine="mixed")
    machine, table = _MACHINES[type(current)]
    if target not in table[current]:
        raise InvalidTransition(current.value, target.value, machine=machine)
    return target


def is_terminal(state: SessionState | AssetState | JobState) -> bool:
    """True when no transition leaves *state*."""
    _, table = _MACHINES[type(state)]
    return not table[state]
