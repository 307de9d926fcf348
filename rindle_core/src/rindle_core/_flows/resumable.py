"""Resumable sessions (GCS): one session URI the client uploads to in order,
asking where to continue after an interruption."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import attrs

from .._errors import InvalidArgument, UploadUnsupported
from .._maintenance import Maintenance
from .._session_store import SessionStore
from ..models import ResumableResult, ResumableStatusResult, UploadSession
from ..profiles import Profile
from ..states import SessionState, is_terminal
from ..storage import Capability, ResumableStatus, StorageAdapter
from ._common import Opening, Resolve, abort, as_resumable, last_status, plan_session, require

__all__ = ["Resumable"]


class Resumable:
    """Opens resumable sessions, reports their offset and cancels them."""

    def __init__(
        self,
        store: SessionStore,
        *,
        resolve: Resolve,
        clock: Callable[[], dt.datetime],
        maintenance: Maintenance,
    ) -> None:
        self._store = store
        self._resolve = resolve
        self._clock = clock
        self._maintenance = maintenance

    def open(
        self,
        profile: Profile,
        storage: StorageAdapter,
        *,
        filename: str,
        content_type: str,
        size: int | None,
        origin: str | None,
        expires_in: int | None,
        owner: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> Opening[ResumableResult]:
        """Decide the session, then create the remote session (cancelled if the
        rows cannot be written). The session opens ``signed`` and lives no
        longer than the remote session."""
        resumable = as_resumable(storage, profile)
        if origin is not None and (
            not isinstance(origin, str) or "\n" in origin or len(origin) > 255
        ):
            raise InvalidArgument("origin must be a single-line URL origin")
        new = plan_session(
            profile,
            "resumable",
            filename=filename,
            content_type=content_type,
            size=size,
            expires_in=expires_in,
            now=self._clock(),
            owner=owner,
            metadata=metadata,
        )
        init = resumable.create_resumable(
            new.key, content_type=new.content_type, size=size, origin=origin
        )
        return Opening(
            attrs.evolve(
                new,
                remote_upload_id=init.upload_id,
                session_uri=init.session_uri,
                session_uri_expires_at=init.expires_at,
                expires_at=min(new.expires_at, init.expires_at),
                signed=True,
            ),
            finish=lambda session: ResumableResult(
                session, attrs.evolve(init, expires_at=session.expires_at)
            ),
            undo=lambda: resumable.cancel_resumable(new.key, init.session_uri),
        )

    def status(self, session: UploadSession) -> ResumableStatusResult:
        """Ask the backend how many bytes it holds and record them; an expired or
        finished session reports the offset last recorded."""
        profile, storage = self._resolve(session.profile)
        if session.upload_strategy != "resumable":
            raise UploadUnsupported(Capability.RESUMABLE_STATUS, storage=session.storage)
        resumable = as_resumable(storage, profile)
        if is_terminal(session.state) or not session.session_uri:
            # Nothing remote to ask: report the offset last seen, kept for operators.
            return ResumableStatusResult(session, last_status(session))
        status = resumable.resumable_status(session.storage_key, session.session_uri)
        if status.state == "expired":
            # An expired remote session reports nothing useful: keep the last offset.
            return ResumableStatusResult(
                session, ResumableStatus("expired", session.committed_bytes)
            )
        return ResumableStatusResult(
            self._store.record_progress(session, status.committed_bytes), status
        )

    def cancel(self, session_id: str) -> UploadSession:
        """``→ aborted``, then the remote session is cancelled; an aborted or
        expired session is returned unchanged."""
        session = self._store.get(session_id, "resumable")
        _, storage = self._resolve(session.profile)
        require(storage, Capability.RESUMABLE_UPLOAD, None)
        if session.state in (SessionState.ABORTED, SessionState.EXPIRED):
            return session  # already cancelled, or expired by maintenance
        return abort(self._store, self._maintenance, session_id)
