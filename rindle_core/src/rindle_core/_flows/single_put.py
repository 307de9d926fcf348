"""The single presigned PUT: one signed URL, one request carrying the whole object."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from .. import _decisions as decide
from .._session_store import SessionStore
from ..models import SignResult, UploadSession
from ..profiles import Profile
from ..storage import Capability, StorageAdapter
from ._common import Opening, Resolve, check_url_ttl, live_session, plan_session, require

__all__ = ["SinglePut"]


class SinglePut:
    """Opens ``presigned_put`` sessions and signs their PUT."""

    def __init__(
        self, store: SessionStore, *, resolve: Resolve, clock: Callable[[], dt.datetime]
    ) -> None:
        self._store = store
        self._resolve = resolve
        self._clock = clock

    def open(
        self,
        profile: Profile,
        storage: StorageAdapter,
        *,
        filename: str,
        content_type: str,
        size: int | None,
        expires_in: int | None,
        owner: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> Opening[UploadSession]:
        """Decide the session; nothing remote exists until the client's PUT."""
        require(storage, Capability.PRESIGNED_PUT, profile)
        new = plan_session(
            profile,
            "presigned_put",
            filename=filename,
            content_type=content_type,
            size=size,
            expires_in=expires_in,
            now=self._clock(),
            owner=owner,
            metadata=metadata,
        )
        return Opening(new, finish=lambda session: session)

    def sign(self, session_id: str, *, expires_in: int | None) -> SignResult:
        """Sign the PUT (binding Content-Type, and Content-Length when declared)
        for no longer than the session lives.

        The first signature marks the session signed with one compare-and-set
        that returns the row; signing again only reads it (ADR 0113). The
        request is checked before anything is written.
        """
        check_url_ttl(expires_in)
        session = self._store.sign(session_id, "presigned_put")
        now = self._clock()
        live_session(session, now)
        profile, storage = self._resolve(session.profile)
        require(storage, Capability.PRESIGNED_PUT, profile)
        presigned = storage.presign_put(
            session.storage_key,
            content_type=session.content_type,
            content_length=session.declared_size,
            expires_in=decide.signing_ttl(profile, now, session.expires_at, expires_in),
        )
        return SignResult(session, presigned)
