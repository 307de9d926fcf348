"""The Azure Blob Storage adapter: block blobs behind rindle's storage seam.

Single uploads are one SAS-signed Put Blob. Multipart uploads are staged
blocks: each part is a Put Block under its own blob-scoped SAS URL, the
part list is committed with Put Block List, and the uncommitted block list
is the upload's status. See ``docs/adr/0030-azure-block-mapping.md``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlobClient, BlockState, ContainerClient, ContentSettings

from rindle_core import InvalidArgument, InvalidParts, StorageNotFound
from rindle_core.storage import (
    Capability,
    HeadResult,
    MultipartInit,
    PartLimits,
    PresignedRequest,
    ResumableInit,
    ResumableStatus,
    UploadedPart,
    redact_url,
    utcnow,
)

from ._blocks import MAX_BLOCKS, block_id, block_name, is_upload_id, new_upload_id, part_number
from ._errors import azure_errors, error_code, status_code
from ._sas import SasSigner

__all__ = ["MAX_BLOB_SIZE", "MAX_BLOCK_SIZE", "MAX_PUT_BLOB_SIZE", "AzureBlobStorage"]

_MIB: Final = 1024 * 1024
#: Largest block Put Block accepts (service version 2019-12-12 and later).
MAX_BLOCK_SIZE: Final = 4000 * _MIB
#: Largest blob a single Put Blob may write.
MAX_PUT_BLOB_SIZE: Final = 5000 * _MIB
#: Largest block blob: 50,000 committed blocks of 4000 MiB (about 190.7 TiB).
MAX_BLOB_SIZE: Final = MAX_BLOCKS * MAX_BLOCK_SIZE

#: Put Blob: create or write (a retried upload replaces the blob, as on S3
#: and GCS). With ``create_only`` just "c": Azure then refuses to overwrite
#: an existing blob, so a leaked URL cannot replace a verified upload.
_PUT_PERMISSION: Final = "cw"
_CREATE_ONLY_PERMISSION: Final = "c"
#: Put Block needs write permission.
_BLOCK_PERMISSION: Final = "w"
_READ_PERMISSION: Final = "r"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


class AzureBlobStorage:
    """A rindle storage adapter for one Azure Blob Storage container.

    Build it with :func:`rindle_azure.create_storage` (what the ``azure``
    backend type does) or directly from an authenticated
    :class:`~azure.storage.blob.ContainerClient` and a SAS signer. With
    ``create_only=True`` single-upload URLs may create the blob but never
    replace it.
    """

    backend: str = "azure"
    capabilities: frozenset[Capability] = frozenset(
        {
            Capability.PRESIGNED_PUT,
            Capability.MULTIPART_UPLOAD,
            Capability.RESUMABLE_STATUS,
            Capability.HEAD,
            Capability.RANGE_READ,
            Capability.DELETE,
            Capability.SIGNED_GET,
        }
    )

    def __init__(
        self,
        container: ContainerClient,
        signer: SasSigner,
        *,
        create_only: bool = False,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._container = container
        self._signer = signer
        self._clock = clock
        self._put_permission = _CREATE_ONLY_PERMISSION if create_only else _PUT_PERMISSION
        self.container_name: str = container.container_name
        parts = urlsplit(container.url)
        self._base_url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))

    def __repr__(self) -> str:
        return (
            f"AzureBlobStorage(account={self._signer.account_name!r}, "
            f"container={self.container_name!r}, url={redact_url(self._base_url)!r})"
        )

    # -- container ----------------------------------------------------------

    def ensure_container(self) -> None:
        """Create the container if it does not exist (development, emulators)."""
        with azure_errors("create_container"):
            if not self._container.exists():
                try:
                    self._container.create_container()
                except HttpResponseError as exc:
                    if error_code(exc) != "ContainerAlreadyExists":
                        raise

    # -- HEAD / RANGE_READ / DELETE / SIGNED_GET ----------------------------

    def head(self, key: str) -> HeadResult:
        with azure_errors("head"):
            props = self._blob(key).get_blob_properties()
        return HeadResult(
            size=int(props.size),
            content_type=props.content_settings.content_type or None,
            etag=props.etag,
        )

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if _bad_int(start) or _bad_int(length):
            raise InvalidArgument("start and length must be non-negative integers")
        if length == 0:
            self.head(key)
            return b""
        with azure_errors("read_range"):
            try:
                blob = self._blob(key)
                data: bytes = blob.download_blob(offset=start, length=length).readall()
            except HttpResponseError as exc:
                if status_code(exc) != 416:
                    raise
                return b""  # the blob exists but ends before *start*
        return data

    def delete(self, key: str) -> None:
        try:
            with azure_errors("delete"):
                self._blob(key).delete_blob(delete_snapshots="include")
        except StorageNotFound:
            pass

    def presign_get(self, key: str, *, expires_in: int) -> PresignedRequest:
        expires_at = self._expiry(expires_in)
        url = self._signed_url(key, _READ_PERMISSION, expires_at)
        return PresignedRequest(url=url, method="GET", headers={}, expires_at=expires_at)

    # -- PRESIGNED_PUT ----------------------------------------------------------

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A Put Blob URL (SAS with create/write permission on this blob only).

        A service SAS cannot bind request headers: Azure does not check the
        Content-Type or Content-Length the client sends against the ones
        given here. Promotion compares the stored size and sniffed type with
        the declared ones and quarantines a mismatch.
        """
        _check_header("content_type", content_type)
        if content_length is not None:
            if _bad_int(content_length):
                raise InvalidArgument("content_length must be a non-negative integer")
            if content_length > MAX_PUT_BLOB_SIZE:
                raise InvalidArgument(
                    f"a single Put Blob holds at most {MAX_PUT_BLOB_SIZE} bytes; use multipart"
                )
        expires_at = self._expiry(expires_in)
        url = self._signed_url(key, self._put_permission, expires_at)
        headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": content_type}
        return PresignedRequest(url=url, method="PUT", headers=headers, expires_at=expires_at)

    # -- MULTIPART_UPLOAD (staged blocks) ------------------------------------

    @property
    def part_limits(self) -> PartLimits:
        return PartLimits(
            min_part_size=1,
            max_part_size=MAX_BLOCK_SIZE,
            max_parts=MAX_BLOCKS,
            max_object_size=MAX_BLOB_SIZE,
            etag_required=False,
        )

    def create_multipart(self, key: str, *, content_type: str) -> MultipartInit:
        """A new upload id; nothing is created remotely until the first block."""
        _check_key(key)
        _check_header("content_type", content_type)
        return MultipartInit(upload_id=new_upload_id(key), part_headers={})

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
    ) -> PresignedRequest:
        """The Put Block URL for one part (``comp=block&blockid=…``, write-only SAS)."""
        _check_key(key)
        if not is_upload_id(upload_id, key):
            raise InvalidArgument("not an Azure block upload id of this blob")
        if _bad_int(part_number) or not 1 <= part_number <= MAX_BLOCKS:
            raise InvalidArgument(f"part number must be in 1..{MAX_BLOCKS}")
        if content_length is not None and (
            _bad_int(content_length) or not 1 <= content_length <= MAX_BLOCK_SIZE
        ):
            # Azure refuses empty blocks (Azurite accepts them): an empty
            # file goes up as a single Put Blob instead.
            raise InvalidArgument(f"a block holds 1..{MAX_BLOCK_SIZE} bytes")
        expires_at = self._expiry(expires_in)
        sas = self._sas(key, _BLOCK_PERMISSION, expires_at)
        wire_id = block_id(upload_id, part_number).replace("+", "%2B").replace("/", "%2F")
        url = f"{self._blob_url(key)}?comp=block&blockid={wire_id}&{sas}"
        return PresignedRequest(
            url=url,
            method="PUT",
            headers={},
            expires_at=expires_at,
            part_number=part_number,
            upload_id=upload_id,
        )

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The staged (uncommitted) blocks of this upload, decoded into parts.

        ``[]`` while nothing is staged; :class:`StorageNotFound` once the blob
        is committed and no block of this upload is pending (the upload is
        over), or for an upload id this adapter never generates.
        """
        if not is_upload_id(upload_id, key):
            raise StorageNotFound("unknown Azure block upload")
        staged = self._staged(key, upload_id, "list_parts")
        if not staged and self._exists(key):
            raise StorageNotFound("the block upload is already committed")
        return [UploadedPart(n, None, size) for n, size in sorted(staged.items())]

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        """Commit the parts' blocks, in part order, with Put Block List.

        Every named block must be staged (and, when a part states its size,
        have that size) or :class:`InvalidParts` is raised and nothing is
        committed. When no block of the upload is staged any more (it was
        committed already, or never started) :class:`StorageNotFound` is
        raised; the broker then finds the blob and treats the upload as done.
        """
        _check_header("content_type", content_type)
        if not is_upload_id(upload_id, key):
            raise StorageNotFound("unknown Azure block upload")
        numbers = _part_numbers(parts)
        staged = self._staged(key, upload_id, "complete_multipart")
        if not staged:
            raise StorageNotFound("no block of this upload is staged")
        missing = [n for n in numbers if n not in staged]
        if missing:
            raise InvalidParts(f"no block was uploaded for part(s) {_ranges(missing)}")
        wrong = [
            p.part_number for p in parts if p.size is not None and p.size != staged[p.part_number]
        ]
        if wrong:
            raise InvalidParts(f"the stored block size differs for part(s) {_ranges(wrong)}")
        blocks = [BlobBlock(block_name(upload_id, n), BlockState.UNCOMMITTED) for n in numbers]
        with azure_errors("complete_multipart"):
            try:
                self._blob(key).commit_block_list(
                    blocks, content_settings=ContentSettings(content_type=content_type)
                )
            except HttpResponseError as exc:
                if error_code(exc) != "InvalidBlockList":
                    raise
                # A concurrent complete committed (and so consumed) the blocks.
                if not self._staged(key, upload_id, "complete_multipart"):
                    raise StorageNotFound("the block upload was committed concurrently") from None
                raise InvalidParts("Azure rejected the block list") from None

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Discard the upload's staged blocks; idempotent.

        Azure has no call that deletes uncommitted blocks. When no blob is
        committed under *key*, an empty Put Block List (``If-None-Match: *``)
        turns them into an empty blob, which is then deleted (``If-Match`` its
        ETag): nothing is left. When a blob is committed, it is left alone and
        Azure garbage-collects the stray blocks (at the latest after 7 days).
        """
        if not is_upload_id(upload_id, key) or not self._staged(key, upload_id, "abort_multipart"):
            return
        blob = self._blob(key)
        with azure_errors("abort_multipart"):
            try:
                result = blob.commit_block_list([], match_condition=MatchConditions.IfMissing)
            except HttpResponseError as exc:
                if status_code(exc) in (409, 412):
                    return  # a committed blob exists: keep it
                raise
            try:
                etag = str(result["etag"])
                blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
            except HttpResponseError as exc:
                if status_code(exc) not in (404, 412):
                    raise  # 404/412: already gone, or replaced meanwhile (keep that)

    # -- RESUMABLE_STATUS -----------------------------------------------------

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        """Bytes staged so far for the block upload whose id is *session_uri*.

        Azure has no resumable sessions; the broker reports a multipart
        session's progress through :meth:`list_parts`. Here the "session" is
        the upload id: ``in_progress`` with the staged bytes, or ``complete``
        with the blob's size once it is committed and nothing is pending.
        """
        if not is_upload_id(session_uri, key):
            raise StorageNotFound("unknown Azure block upload")
        staged = self._staged(key, session_uri, "resumable_status")
        if not staged:
            try:
                return ResumableStatus("complete", self.head(key).size)
            except StorageNotFound:
                pass
        return ResumableStatus("in_progress", sum(staged.values()))

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableInit:
        raise NotImplementedError("Azure has no resumable sessions; use multipart (blocks)")

    def cancel_resumable(self, key: str, session_uri: str) -> None:
        raise NotImplementedError("Azure has no resumable sessions; use multipart (blocks)")

    # -- plumbing ---------------------------------------------------------------

    def _blob(self, key: str) -> BlobClient:
        _check_key(key)
        return self._container.get_blob_client(key)

    def _blob_url(self, key: str) -> str:
        return f"{self._base_url}/{_quote_key(key)}"

    def _sas(self, key: str, permission: str, expires_at: dt.datetime) -> str:
        """The SAS query for *key* (already checked by the caller)."""
        return self._signer.blob_sas(
            self.container_name, key, permission=permission, expiry=expires_at
        )

    def _signed_url(self, key: str, permission: str, expires_at: dt.datetime) -> str:
        _check_key(key)
        return f"{self._blob_url(key)}?{self._sas(key, permission, expires_at)}"

    def _expiry(self, expires_in: int) -> dt.datetime:
        if _bad_int(expires_in) or expires_in < 1:
            raise InvalidArgument("expires_in must be a positive number of seconds")
        # SAS expiry times have whole seconds: report exactly what was signed.
        return (self._clock() + dt.timedelta(seconds=expires_in)).replace(microsecond=0)

    def _exists(self, key: str) -> bool:
        try:
            self.head(key)
        except StorageNotFound:
            return False
        return True

    def _staged(self, key: str, upload_id: str, operation: str) -> dict[int, int]:
        """``{part_number: size}`` of this upload's uncommitted blocks."""
        try:
            with azure_errors(operation):
                _, uncommitted = self._blob(key).get_block_list("uncommitted")
        except StorageNotFound:
            return {}
        staged: dict[int, int] = {}
        for block in uncommitted:
            number = part_number(str(block.id), upload_id)
            if number is not None:
                staged[number] = int(block.size)
        return staged


@functools.lru_cache(maxsize=256)
def _quote_key(key: str) -> str:
    """The blob name as a URL path (cached: a block upload signs many parts of one blob)."""
    return quote(key, safe="/~")


def _bad_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int) or value < 0


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise InvalidArgument("a blob name must be a string of 1..1024 characters")
    if _CONTROL.search(key):
        raise InvalidArgument("a blob name must not contain control characters")


def _check_header(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or "\n" in value or "\r" in value:
        raise InvalidArgument(f"{name} must be a non-empty single-line string")


def _part_numbers(parts: Sequence[UploadedPart]) -> list[int]:
    """Validated part numbers in ascending order."""
    if isinstance(parts, str | bytes) or not parts:
        raise InvalidParts("the part list is empty")
    numbers: list[int] = []
    for part in parts:
        if not isinstance(part, UploadedPart):
            raise InvalidParts("each part must be an UploadedPart")
        number = part.part_number
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_BLOCKS:
            raise InvalidParts(f"part number {number!r} outside 1..{MAX_BLOCKS}")
        numbers.append(number)
    if len(set(numbers)) != len(numbers):
        raise InvalidParts("duplicate part numbers")
    return sorted(numbers)


def _ranges(numbers: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")
