"""rindle's hooks turned into the signals both metrics plugins record.

One place decides what counts as an upload started (a session opened), an
upload completed (``rindle_upload_stopped``, with the stored bytes), an
upload failed (a session reaching ``failed``, ``aborted`` or ``expired``),
and a job run or broker operation ending (``rindle_operation_finished``),
so the OpenTelemetry and Prometheus plugins count the same things. Labels
are profile and strategy names, states, job kinds, operation names and
outcomes: a bounded set, and never an id or a secret.
"""

from __future__ import annotations

from .._hookimpl import hookimpl
from .._operations import Operation
from ..models import Asset, UploadSession
from ..states import SessionState

__all__ = ["FAILED_STATES", "Signals"]

#: Session states that end an upload without an asset.
FAILED_STATES = frozenset(
    {SessionState.FAILED.value, SessionState.ABORTED.value, SessionState.EXPIRED.value}
)


class Signals:
    """Hook implementations that call :meth:`upload_started` and the like; subclasses record."""

    # -- what subclasses record ---------------------------------------------------

    def upload_started(self, profile: str, strategy: str) -> None:
        """A session was opened."""

    def upload_completed(self, profile: str, strategy: str, byte_size: int) -> None:
        """A session completed; its object holds *byte_size* bytes."""

    def upload_failed(self, profile: str, strategy: str, state: str) -> None:
        """A session ended in *state* (``failed``, ``aborted`` or ``expired``)."""

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        """A job run ended with *outcome* after *seconds*."""

    def operation_finished(self, name: str, outcome: str, seconds: float) -> None:
        """A broker operation ended with *outcome* (``ok``, ``error``) after *seconds*."""

    # -- the hooks ----------------------------------------------------------------

    @hookimpl
    def rindle_upload_started(self, session: UploadSession) -> None:
        self.upload_started(session.profile, session.upload_strategy)

    @hookimpl
    def rindle_upload_stopped(self, session: UploadSession, asset: Asset) -> None:
        self.upload_completed(session.profile, session.upload_strategy, asset.byte_size or 0)

    @hookimpl
    def rindle_session_transitioned(
        self, session: UploadSession, from_state: str, to_state: str
    ) -> None:
        if to_state in FAILED_STATES:
            self.upload_failed(session.profile, session.upload_strategy, to_state)

    @hookimpl
    def rindle_operation_finished(self, operation: Operation) -> None:
        seconds = operation.duration or 0.0
        outcome = operation.outcome or "ok"
        if operation.name == "job.run":
            self.job_finished(str(operation.attributes.get("kind", "")), outcome, seconds)
        else:
            self.operation_finished(operation.name, outcome, seconds)
        self.after_operation(operation)

    def after_operation(self, operation: Operation) -> None:
        """Anything else a subclass does when an operation ends (a span's end)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
