"""The session store: upload-session rows read, inserted and moved by compare-and-set.

Methods that take a connection run inside the caller's transaction; the
others write with one statement (PostgreSQL) or one short transaction and
emit their telemetry after the commit (ADR 0112).
Nothing here talks to storage: callers do that before or after, never
inside a transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence

import attrs
from sqlalchemy import Connection, select

from . import _decisions as decide
from ._client_metadata import check_owner
from ._errors import AssetNotFound, InvalidArgument, InvalidTransition, SessionNotFound
from ._frozen import FrozenMapping, thaw
from ._telemetry import Event, Telemetry, session_event, upload_start_event
from .db import Database, sessions_table
from .db._repo import (
    cas_session,
    insert_session,
    load_asset,
    load_parts,
    load_session,
    record_url_expiry,
    replace_parts,
    session_from_row,
    sign_or_current,
    update_session_fields,
    upsert_parts,
)
from .models import Asset, UploadSession, UploadStrategy
from .states import SessionState, is_terminal
from .storage import UploadedPart

__all__ = ["NewSession", "SessionStore"]

_sessions = sessions_table


@attrs.frozen(kw_only=True)
class NewSession:
    """A session and its staged asset, decided before any I/O; written by
    :meth:`SessionStore.insert` once storage holds what the strategy needs."""

    profile: str
    storage: str
    strategy: UploadStrategy
    asset_id: str
    session_id: str
    key: str
    filename: str
    content_type: str
    size: int | None
    now: dt.datetime
    expires_at: dt.datetime
    #: The backend's multipart upload id, or the resumable session's id.
    remote_upload_id: str | None = None
    part_size: int | None = None
    #: The algorithm every part is signed with its checksum in (multipart), or None.
    checksum_algorithm: str | None = None
    #: A bearer secret: never in the repr.
    session_uri: str | None = attrs.field(default=None, repr=False)
    session_uri_expires_at: dt.datetime | None = None
    #: Opened already ``signed`` (a resumable session URI is the signature).
    signed: bool = False
    #: Who the upload is for (the host's id of its user or tenant), checked.
    owner: str | None = None
    #: The caller's own data about the upload (a checked JSON object), frozen.
    metadata: Mapping[str, object] = attrs.field(factory=FrozenMapping, repr=False)


class SessionStore:
    """Reads, inserts and compare-and-set moves of upload sessions (and their assets)."""

    def __init__(
        self, database: Database, *, telemetry: Telemetry, clock: Callable[[], dt.datetime]
    ) -> None:
        self._db = database
        self._telemetry = telemetry
        self._clock = clock

    # -- reads ---------------------------------------------------------------------

    def get(self, session_id: str, strategy: UploadStrategy | None = None) -> UploadSession:
        """The session *session_id*; with *strategy*, it must use that strategy."""
        decide.check_id(session_id)
        with self._db.read() as conn:
            session = load_session(conn, session_id)
        if session is None:
            raise SessionNotFound(session_id)
        if strategy is not None and session.upload_strategy != strategy:
            raise InvalidArgument(
                f"session {session_id} uses the {session.upload_strategy} strategy, not {strategy}"
            )
        return session

    def get_asset(self, asset_id: str) -> Asset:
        """The asset *asset_id*."""
        decide.check_id(asset_id, "asset id")
        with self._db.read() as conn:
            asset = load_asset(conn, asset_id)
        if asset is None:
            raise AssetNotFound(asset_id)
        return asset

    def find(
        self,
        *,
        state: SessionState | str | None,
        profile: str | None,
        limit: int,
        owner: str | None = None,
        storage_key: str | None = None,
    ) -> list[UploadSession]:
        """Sessions, newest first, optionally filtered by state, profile, owner and key."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgument("limit must be an integer in 1..10000")
        query = select(_sessions).order_by(_sessions.c.created_at.desc()).limit(limit)
        if state is not None:
            try:
                query = query.where(_sessions.c.state == SessionState(state).value)
            except ValueError:
                raise InvalidArgument(f"unknown session state {state!r}") from None
        if profile is not None:
            query = query.where(_sessions.c.profile == profile)
        if owner is not None:
            query = query.where(_sessions.c.owner == check_owner(owner))
        if storage_key is not None:
            if not isinstance(storage_key, str):
                raise InvalidArgument("storage_key must be a string")
            query = query.where(_sessions.c.upload_key == storage_key)
        with self._db.read() as conn:
            return [session_from_row(r) for r in conn.execute(query)]

    def posts_at_deadline(self, now: dt.datetime, limit: int) -> list[UploadSession]:
        """Signed ``presigned_post`` sessions whose deadline has passed, oldest first."""
        query = (
            select(_sessions)
            .where(
                _sessions.c.upload_strategy == "presigned_post",
                _sessions.c.state == SessionState.SIGNED.value,
                _sessions.c.expires_at <= now,
            )
            .order_by(_sessions.c.expires_at)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [session_from_row(r) for r in conn.execute(query)]

    def parts(self, session_id: str) -> list[UploadedPart]:
        """The part ledger of a session, by part number."""
        with self._db.read() as conn:
            return load_parts(conn, session_id)

    # -- inside the caller's transaction ---------------------------------------------

    @staticmethod
    def load(conn: Connection, session_id: str) -> UploadSession:
        """The session as this transaction sees it."""
        session = load_session(conn, session_id)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    @staticmethod
    def load_asset(conn: Connection, asset_id: str) -> Asset:
        """The asset as this transaction sees it."""
        asset = load_asset(conn, asset_id)
        if asset is None:
            raise AssetNotFound(asset_id)
        return asset

    @staticmethod
    def cas(
        conn: Connection,
        session_id: str,
        expected: SessionState,
        target: SessionState,
        now: dt.datetime,
        *,
        via: Sequence[SessionState] = (),
        **values: object,
    ) -> UploadSession | None:
        """Move the session ``expected -> target`` (through the states *via*, each
        hop checked; setting *values*) and return the new row, or None when it
        was no longer in ``expected``."""
        return cas_session(conn, session_id, expected, target, now, via=via, **values)

    # -- one transaction each --------------------------------------------------------

    def insert(self, new: NewSession) -> UploadSession:
        """Write the staged asset and the ``initialized`` session (then ``signed``
        if *new* says so) atomically: one statement where the dialect allows
        (PostgreSQL), else one transaction."""
        events: list[Event] = []
        asset, row = _rows(new)
        if not new.signed and self._db.dialect == "postgresql":
            with self._db.autocommit() as conn:
                session = insert_session(conn, asset, row)
            events.append(upload_start_event(session))
        else:
            with self._db.transaction() as conn:
                session = insert_session(conn, asset, row)
                events.append(upload_start_event(session))
                if new.signed:
                    session = self._moved(conn, session, SessionState.SIGNED, new.now, events)
        self._emit(events)
        return session

    def sign(self, session_id: str, strategy: UploadStrategy) -> UploadSession:
        """The session *session_id* of *strategy*, moved ``initialized → signed``
        by one compare-and-set when it is live and unsigned.

        A session already signed (or one that cannot be signed) is only read:
        nothing is written, and the caller's checks on the returned snapshot
        raise what applies. The move's telemetry is emitted once it committed.
        """
        decide.check_id(session_id)
        now = self._clock()
        with self._db.autocommit() as conn:
            session, moved = sign_or_current(conn, session_id, strategy, now)
            if (
                session is not None
                and not moved
                and session.state is SessionState.INITIALIZED
                and session.upload_strategy == strategy
                and not session.is_expired(now)
            ):
                # The statement's snapshot predates a concurrent signer's commit.
                session = load_session(conn, session_id)
        if session is None:
            raise SessionNotFound(session_id)
        if session.upload_strategy != strategy:
            raise InvalidArgument(
                f"session {session_id} uses the {session.upload_strategy} strategy, not {strategy}"
            )
        if moved:
            self._emit(
                [session_event(session, SessionState.INITIALIZED.value, SessionState.SIGNED.value)]
            )
        return session

    def mark_signed(
        self, session: UploadSession, *, urls_expire: dt.datetime | None = None
    ) -> UploadSession:
        """``initialized → signed`` on the first signature, in one transaction with
        the record of when the last URL that could change the completed object
        expires (*urls_expire*). That record is guarded by the live states: once
        verification moved the session on, nothing is recorded and the URLs are
        not handed out (promotion was already scheduled after the expiries it saw).
        """
        if session.state is not SessionState.INITIALIZED and urls_expire is None:
            return session
        if urls_expire is None:  # one compare-and-set that returns the row (ADR 0113)
            signed = self.sign(session.id, session.upload_strategy)
            if signed.state is SessionState.INITIALIZED or is_terminal(signed.state):
                raise InvalidTransition(signed.state.value, SessionState.SIGNED.value)
            return signed
        now = self._clock()
        events: list[Event] = []
        with self._db.transaction() as conn:
            if urls_expire is not None and not record_url_expiry(
                conn, session.id, urls_expire, now
            ):
                current = self.load(conn, session.id)
                raise InvalidTransition(current.state.value, SessionState.SIGNED.value)
            if session.state is SessionState.INITIALIZED:
                signed = self._moved(conn, session, SessionState.SIGNED, now, events)
            else:
                signed = self.load(conn, session.id)
            if signed.state is SessionState.INITIALIZED or is_terminal(signed.state):
                raise InvalidTransition(signed.state.value, SessionState.SIGNED.value)
        self._emit(events)
        return signed

    def record_progress(
        self, session: UploadSession, committed: int, *, parts: Sequence[UploadedPart] = ()
    ) -> UploadSession:
        """Record the bytes storage holds (and the *parts* it listed, in the ledger);
        a session with bytes is uploading, or resuming."""
        now = self._clock()
        target = decide.progress_state(
            session.state, session.upload_strategy, committed, session.committed_bytes
        )
        events: list[Event] = []
        with self._db.transaction() as conn:
            upsert_parts(conn, session.id, parts)
            update_session_fields(conn, session.id, now, committed_bytes=committed)
            if target is None:
                current = self.load(conn, session.id)
            else:
                current = self._moved(conn, session, target, now, events)
        self._emit(events)
        return current

    def replace_parts(self, session_id: str, parts: Sequence[UploadedPart]) -> None:
        """Make the part ledger hold exactly *parts*."""
        with self._db.transaction() as conn:
            replace_parts(conn, session_id, parts)

    def _emit(self, events: list[Event]) -> None:
        """Emit *events* once their write is committed (at once, or when the
        enclosing :meth:`Database.atomic` block commits)."""
        if events:
            self._db.after_commit(functools.partial(self._telemetry.emit, events))

    def _moved(
        self,
        conn: Connection,
        session: UploadSession,
        target: SessionState,
        now: dt.datetime,
        events: list[Event],
    ) -> UploadSession:
        """*session* moved from its state to *target* (recording the event), or
        as another writer left it."""
        moved = self.cas(conn, session.id, session.state, target, now)
        if moved is None:
            return self.load(conn, session.id)
        events.append(session_event(moved, session.state.value, target.value))
        return moved


def _rows(new: NewSession) -> tuple[dict[str, object], dict[str, object]]:
    """The asset's row and the session's row for *new* (their states are
    :func:`~rindle_core.db._repo.insert_session`'s)."""
    asset = {
        "id": new.asset_id,
        "profile": new.profile,
        "storage": new.storage,
        "storage_key": new.key,
        "filename": new.filename,
        "declared_content_type": new.content_type,
        "metadata": {"declared_size": new.size} if new.size is not None else {},
        "owner": new.owner,
        "client_metadata": thaw(new.metadata),
        "created_at": new.now,
        "updated_at": new.now,
    }
    session = {
        "id": new.session_id,
        "asset_id": new.asset_id,
        "profile": new.profile,
        "storage": new.storage,
        "upload_key": new.key,
        "upload_strategy": new.strategy,
        "content_type": new.content_type,
        "declared_size": new.size,
        "expires_at": new.expires_at,
        "committed_bytes": 0,
        "cleanup_attempts": 0,
        "multipart_upload_id": new.remote_upload_id,
        "part_size": new.part_size,
        "checksum_algorithm": new.checksum_algorithm,
        "session_uri": new.session_uri,
        "session_uri_expires_at": new.session_uri_expires_at,
        "owner": new.owner,
        "client_metadata": thaw(new.metadata),
        "created_at": new.now,
        "updated_at": new.now,
    }
    return asset, session
