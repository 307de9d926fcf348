"""The presigned POST: an HTML form upload under a signed policy (S3, GCS, local).

The policy binds the session's key, its content type and a size range: the
declared size exactly, else what the profile allows (up to the backend's
largest POST), so a size limit holds even when the client declares none.
Where the backend's POST can replace an existing object (S3 and GCS), each
policy's expiry is recorded and promotion waits until the last one expired
(ADR 0103), as for Azure's part URLs (ADR 0086); verification's fingerprint
catches a replacement made before promotion in any case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from .. import _decisions as decide
from .._errors import InvalidArgument, UploadUnsupported
from .._session_store import SessionStore
from ..models import SignPostResult, UploadSession
from ..profiles import Profile
from ..storage import Capability, PostPolicyStorage, StorageAdapter, supports_post_policy
from ._common import Opening, Resolve, live_session, plan_session

__all__ = ["Post", "post_size_range"]


def post_size_range(profile: Profile, declared: int | None, backend_max: int) -> tuple[int, int]:
    """The ``(min, max)`` bytes a policy allows: the declared size exactly, else
    the profile's ``min_bytes..max_bytes``, never above *backend_max*."""
    if declared is not None:
        return declared, declared
    high = backend_max if profile.max_bytes is None else min(profile.max_bytes, backend_max)
    return min(profile.min_bytes, high), high


def _as_post_policy(storage: StorageAdapter, profile: Profile) -> PostPolicyStorage:
    """*storage* as a POST-policy backend, or :class:`UploadUnsupported`."""
    if not supports_post_policy(storage):
        raise UploadUnsupported(Capability.PRESIGNED_POST, storage=profile.storage)
    return storage


class Post:
    """Opens ``presigned_post`` sessions and signs their form policy."""

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
        """Decide the session; nothing remote exists until the client's POST."""
        post = _as_post_policy(storage, profile)
        new = plan_session(
            profile,
            "presigned_post",
            filename=filename,
            content_type=content_type,
            size=size,
            expires_in=expires_in,
            now=self._clock(),
            owner=owner,
            metadata=metadata,
        )
        if size is not None and size > post.max_post_size:
            raise InvalidArgument(
                f"a POST carries at most {post.max_post_size} bytes; use multipart"
            )
        return Opening(new, finish=lambda session: session)

    def sign(self, session_id: str, *, expires_in: int | None) -> SignPostResult:
        """Sign the form policy for no longer than the session lives; the first
        signature marks the session signed."""
        now = self._clock()
        session = live_session(self._store.get(session_id, "presigned_post"), now)
        profile, storage = self._resolve(session.profile)
        backend = _as_post_policy(storage, profile)
        low, high = post_size_range(profile, session.declared_size, backend.max_post_size)
        ttl = decide.signing_ttl(profile, now, session.expires_at, expires_in)
        post = backend.presign_post(
            session.storage_key,
            content_type=session.content_type,
            min_size=low,
            max_size=high,
            expires_in=ttl,
        )
        rewrites_until = None if post.create_only else now + dt.timedelta(seconds=ttl)
        return SignPostResult(self._store.mark_signed(session, urls_expire=rewrites_until), post)
