"""Multipart uploads (S3 multipart, Azure blocks): parts signed one by one,
uploaded in any order, then assembled by the backend on completion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import attrs

from .. import _decisions as decide
from .._checksums import check_bound, with_checksum_keywords
from .._errors import InvalidArgument, StorageConflict, StorageNotFound, StorageObjectMissing
from .._maintenance import Maintenance
from .._session_store import SessionStore
from ..models import (
    MultipartResult,
    MultipartStatusResult,
    ResumableStatusResult,
    SignBatchResult,
    UploadSession,
    VerifyResult,
)
from ..profiles import Profile
from ..states import SessionState, is_terminal
from ..storage import (
    MultipartStorage,
    PartChecksum,
    PresignedRequest,
    ResumableStatus,
    StorageAdapter,
    UploadedPart,
    supports_committed_parts,
)
from ._common import (
    Opening,
    Resolve,
    as_multipart,
    check_verifiable,
    fail,
    last_status,
    live_session,
    multipart_of,
    plan_session,
)
from .verification import Verification

__all__ = ["Multipart"]

#: The most parts one call signs.
_MAX_SIGNED = 1000


class Multipart:
    """Opens multipart sessions, signs parts, reports and completes them."""

    def __init__(
        self,
        store: SessionStore,
        *,
        resolve: Resolve,
        clock: Callable[[], dt.datetime],
        maintenance: Maintenance,
        verification: Verification,
    ) -> None:
        self._store = store
        self._resolve = resolve
        self._clock = clock
        self._maintenance = maintenance
        self._verification = verification

    def open(
        self,
        profile: Profile,
        storage: StorageAdapter,
        *,
        filename: str,
        content_type: str,
        size: int | None,
        part_size: int | None,
        expires_in: int | None,
        owner: str | None = None,
        metadata: Mapping[str, object] | None = None,
        checksum_algorithm: str | None = None,
    ) -> Opening[MultipartResult]:
        """Choose the part size within the backend's limits, decide the session,
        then create the remote upload (aborted if the rows cannot be written)."""
        multipart = as_multipart(storage, profile)
        limits = multipart.part_limits
        if checksum_algorithm is not None:
            check_bound(
                checksum_algorithm, limits.checksum_algorithms, f"storage {profile.storage!r}"
            )
        if part_size is not None and (
            isinstance(part_size, bool) or not isinstance(part_size, int) or part_size < 1
        ):
            raise InvalidArgument("part_size must be a positive integer")
        if size is not None and isinstance(size, int) and size > limits.max_object_size:
            raise InvalidArgument(
                f"size {size} exceeds the backend's maximum object size {limits.max_object_size}"
            )
        chosen = decide.choose_part_size(size, part_size or profile.part_size, limits)
        new = plan_session(
            profile,
            "multipart",
            filename=filename,
            content_type=content_type,
            size=size,
            expires_in=expires_in,
            now=self._clock(),
            owner=owner,
            metadata=metadata,
        )
        init = with_checksum_keywords(
            multipart.create_multipart,
            new.key,
            content_type=new.content_type,
            checksums={"checksum_algorithm": checksum_algorithm},
        )
        count = decide.part_count(size, chosen) if size is not None else None
        upload = attrs.evolve(
            init,
            storage_key=new.key,
            part_size=chosen,
            part_count=count,
            checksum_algorithm=checksum_algorithm,
        )
        return Opening(
            attrs.evolve(
                new,
                remote_upload_id=init.upload_id,
                part_size=chosen,
                checksum_algorithm=checksum_algorithm,
            ),
            finish=lambda session: MultipartResult(session, upload),
            undo=lambda: multipart.abort_multipart(new.key, init.upload_id),
        )

    def sign_parts(
        self,
        session_id: str,
        part_numbers: Sequence[int],
        *,
        expires_in: int | None,
        checksums: Sequence[str] | None = None,
    ) -> SignBatchResult:
        """Presign parts for no longer than the session lives; the first signature
        marks it signed. Where part URLs outlive completion, their expiry is
        recorded so promotion waits for it. A session that binds part checksums
        needs one per part (*checksums*, in the order of *part_numbers*)."""
        now = self._clock()
        session = live_session(self._store.get(session_id, "multipart"), now)
        profile, storage = self._resolve(session.profile)
        multipart = as_multipart(storage, profile)
        if isinstance(part_numbers, str | bytes) or not isinstance(part_numbers, Sequence):
            raise InvalidArgument("part_numbers must be a list of integers")
        if not part_numbers or len(part_numbers) > _MAX_SIGNED:
            raise InvalidArgument(f"sign between 1 and {_MAX_SIGNED} parts per call")
        limits = multipart.part_limits
        numbers = [decide.check_part_number(n, limits) for n in part_numbers]
        bound = _part_checksums(session.checksum_algorithm, checksums, len(numbers))
        upload_id, part_size = multipart_of(session)
        ttl = decide.signing_ttl(profile, now, session.expires_at, expires_in)
        signed: list[PresignedRequest] = [
            with_checksum_keywords(
                multipart.presign_part,
                session.storage_key,
                upload_id,
                number,
                expires_in=ttl,
                content_length=decide.part_length(session.declared_size, part_size, number),
                checksums={"checksum": checksum},
            )
            for number, checksum in zip(numbers, bound, strict=True)
        ]
        urls_expire = now + dt.timedelta(seconds=ttl)
        current = self._store.mark_signed(
            session, urls_expire=urls_expire if limits.part_urls_outlive_completion else None
        )
        return SignBatchResult(current, tuple(signed))

    def status(self, session_id: str) -> MultipartStatusResult:
        """The parts the backend holds (recorded in the ledger) and those missing;
        a finished session answers from the ledger."""
        session = self._store.get(session_id, "multipart")
        profile, storage = self._resolve(session.profile)
        multipart = as_multipart(storage, profile)
        upload_id, _ = multipart_of(session)
        if is_terminal(session.state):  # the remote upload is gone: the ledger remembers
            parts = self._store.parts(session.id)
        else:
            parts = multipart.list_parts(session.storage_key, upload_id)
            held = sum(p.size or 0 for p in parts)
            session = self._store.record_progress(session, held, parts=parts)
        missing = decide.missing_parts(
            session.declared_size, session.part_size or 1, (p.part_number for p in parts)
        )
        return MultipartStatusResult(
            session, tuple(parts), missing, sum(p.size or 0 for p in parts)
        )

    def byte_status(self, session: UploadSession) -> ResumableStatusResult:
        """The bytes of the parts the backend holds, as a resumable status."""
        profile, storage = self._resolve(session.profile)
        multipart = as_multipart(storage, profile)
        if is_terminal(session.state):
            return ResumableStatusResult(session, last_status(session))
        upload_id, _ = multipart_of(session)
        parts = multipart.list_parts(session.storage_key, upload_id)
        status = ResumableStatus("in_progress", sum(p.size or 0 for p in parts))
        return ResumableStatusResult(
            self._store.record_progress(session, status.committed_bytes), status
        )

    def complete(
        self, session_id: str, parts: Sequence[UploadedPart | Mapping[str, object]] | None
    ) -> VerifyResult:
        """Complete the remote upload, then verify. ``parts=None`` rebuilds the
        list from the backend; a retry after the remote completion converges."""
        session = self._store.get(session_id, "multipart")
        if session.state is SessionState.COMPLETED:
            return VerifyResult(session, self._store.get_asset(session.asset_id))
        check_verifiable(session, self._clock())
        profile, storage = self._resolve(session.profile)
        multipart = as_multipart(storage, profile)
        upload_id, part_size = multipart_of(session)
        if parts is None:
            listed = _held_parts(multipart, session.storage_key, upload_id)
            if not listed:
                return self._converge(session, multipart)
            parts = listed
        checked = decide.normalise_parts(
            parts, multipart.part_limits, checksum_algorithm=session.checksum_algorithm
        )
        decide.check_part_geometry(checked, session.declared_size, part_size)
        try:
            multipart.complete_multipart(
                session.storage_key, upload_id, checked, content_type=session.content_type
            )
        except StorageNotFound:
            return self._converge(session, multipart, checked)
        except StorageConflict:
            # The key holds an object this upload did not complete: it can never
            # complete. The session fails; cleanup aborts the upload and removes
            # the foreign object from the asset's key.
            fail(
                self._maintenance,
                session,
                "storage_conflict: the key holds an object this upload did not make",
            )
            raise
        # Storage accepted the list: only now does the ledger record it.
        self._record_parts(session, checked)
        return self._verification.verify(session_id)

    def _converge(
        self,
        session: UploadSession,
        storage: StorageAdapter,
        parts: Sequence[UploadedPart] = (),
    ) -> VerifyResult:
        """The remote upload is gone: if the object exists it was completed before."""
        try:
            storage.head(session.storage_key)
        except StorageNotFound:
            raise StorageObjectMissing(session.storage_key) from None
        if parts:
            self._record_parts(session, parts)
        return self._verification.verify(session.id)

    def _record_parts(self, session: UploadSession, parts: Sequence[UploadedPart]) -> None:
        """Make the part ledger exactly the completed list (sizes filled from the
        declared geometry); parts a status poll saw but the list left out go."""
        part_size = session.part_size or 1
        sized = [
            p
            if p.size is not None
            else attrs.evolve(
                p, size=decide.part_length(session.declared_size, part_size, p.part_number)
            )
            for p in parts
        ]
        self._store.replace_parts(session.id, sized)


def _part_checksums(
    algorithm: str | None, checksums: Sequence[str] | None, count: int
) -> list[PartChecksum | None]:
    """One checksum per part to sign: required where the session binds them, else refused."""
    if algorithm is None:
        if checksums is not None:
            raise InvalidArgument("this session binds no part checksums: leave checksums out")
        return [None] * count
    if checksums is None:
        raise InvalidArgument(f"this session signs every part with its {algorithm} checksum")
    if isinstance(checksums, str | bytes) or not isinstance(checksums, Sequence):
        raise InvalidArgument("checksums must be a list of strings")
    if len(checksums) != count:
        raise InvalidArgument("give one checksum per part number, in the same order")
    out: list[PartChecksum | None] = []
    for value in checksums:
        if not isinstance(value, str):
            raise InvalidArgument("checksums must be a list of strings")
        out.append(PartChecksum(algorithm, value))
    return out


def _held_parts(storage: MultipartStorage, key: str, upload_id: str) -> list[UploadedPart]:
    """The parts the backend holds for the upload; else the blocks a client
    committed itself (or a commit whose answer was lost), where the backend
    can list them: either list then goes through the same checks as a client's."""
    try:
        listed = storage.list_parts(key, upload_id)
    except StorageNotFound:
        listed = []
    if listed or not supports_committed_parts(storage):
        return listed
    try:
        return storage.committed_parts(key, upload_id=upload_id)
    except StorageNotFound:
        return []
