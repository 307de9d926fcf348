"""The Azure Blob Storage adapter: block blobs behind rindle's storage seam.

Single uploads are one SAS-signed Put Blob with create-only permission.
Multipart uploads are staged blocks: each part is a Put Block under its own
blob-scoped SAS URL, the broker commits the part list with Put Block List
(``If-None-Match: *``), and the uncommitted block list is the upload's
progress. See ``docs/adr/0030-azure-block-mapping.md`` and
``docs/adr/0032-azure-create-only-sas.md``.

The public methods come from :mod:`rindle_core.adapters`, which checks their
arguments; the hooks here hold only what is Azure's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobLeaseClient,
    BlobProperties,
    BlockState,
    ContainerClient,
    ContentSettings,
)

from rindle_core import (
    ConfigurationError,
    InvalidArgument,
    InvalidParts,
    StorageConflict,
    StorageError,
    StorageNotFound,
)
from rindle_core.adapters import (
    BaseCommittedPartsStorage,
    BaseMultipartStorage,
    RangeNotSatisfiable,
    expiry,
    install_redaction,
    redact_url,
    utcnow,
)
from rindle_core.storage import (
    HeadResult,
    MultipartUpload,
    PartLimits,
    PresignedRequest,
    UploadedPart,
)

from ._blocks import MAX_BLOCKS, block_id, block_name, is_upload_id, new_upload_id, part_number
from ._committed import decode_committed, is_commit_of
from ._errors import azure_errors, error_code, status_code
from ._ranged import RangeIgnored, refuse_whole_answers
from ._sas import SasSigner

__all__ = ["MAX_BLOB_SIZE", "MAX_BLOCK_SIZE", "MAX_PUT_BLOB_SIZE", "AzureBlobStorage"]

_MIB: Final = 1024 * 1024
#: Largest block Put Block accepts (service version 2019-12-12 and later).
MAX_BLOCK_SIZE: Final = 4000 * _MIB
#: Largest blob a single Put Blob may write.
MAX_PUT_BLOB_SIZE: Final = 5000 * _MIB
#: Largest block blob: 50,000 committed blocks of 4000 MiB (about 190.7 TiB).
MAX_BLOB_SIZE: Final = MAX_BLOCKS * MAX_BLOCK_SIZE

_PART_LIMITS: Final = PartLimits(
    min_part_size=1,
    max_part_size=MAX_BLOCK_SIZE,
    max_parts=MAX_BLOCKS,
    max_object_size=MAX_BLOB_SIZE,
    etag_required=False,
    # Block URLs need `sp=w`, which can also commit or Put Blob: the broker
    # promotes only once every part URL has expired.
    part_urls_outlive_completion=True,
)

#: Put Blob: create only. Azure refuses the token for a blob that exists
#: (a replacement needs "w"), so no upload URL can replace a stored object.
_PUT_PERMISSION: Final = "c"
#: Put Block needs write permission: Azure (and Azurite) refuse "c" for it.
#: What "w" also allows is listed in docs/storage/azure.md.
_BLOCK_PERMISSION: Final = "w"
_READ_PERMISSION: Final = "r"
#: Azure's answers to a conditional write that found a blob.
_EXISTS: Final = frozenset({409, 412})
#: The SDK's ``match_condition`` for ``If-Match: <etag>``.
_IF_MATCH: Final = MatchConditions.IfNotModified
_ANOTHER_BLOB: Final = "azure complete_multipart: another blob exists under this key"


class AzureBlobStorage(BaseMultipartStorage, BaseCommittedPartsStorage):
    """A rindle storage adapter for one Azure Blob Storage container.

    Build it with :func:`rindle_azure.create_storage` (what the ``azure``
    backend type does) or directly from an authenticated
    :class:`~azure.storage.blob.ContainerClient` and a SAS signer. Upload
    URLs are create-only: ``create_only`` is accepted for compatibility and
    must be true. Signed URLs live at most 7 days (``max_expires_in``).
    """

    backend = "azure"
    max_put_size = MAX_PUT_BLOB_SIZE

    def __init__(
        self,
        container: ContainerClient,
        signer: SasSigner,
        *,
        create_only: bool = True,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        if create_only is not True:
            raise ConfigurationError(
                "storage 'azure': create_only cannot be turned off: "
                "a signed upload never replaces a stored blob"
            )
        self._container = container
        self._signer = signer
        self._clock = clock
        self.container_name: str = container.container_name
        parts = urlsplit(container.url)
        self._base_url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        # azure-core and urllib3 log request lines and headers at DEBUG/INFO.
        install_redaction("azure", "urllib3")

    def close(self) -> None:
        """Close the container client's HTTP pipeline."""
        self._container.close()

    def __repr__(self) -> str:
        return (
            f"AzureBlobStorage(account={self._signer.account_name!r}, "
            f"container={self.container_name!r}, url={redact_url(self._base_url)!r})"
        )

    def ensure_container(self) -> None:
        """Create the container if it does not exist (development, emulators)."""
        with azure_errors("create_container"):
            if not self._container.exists():
                try:
                    self._container.create_container()
                except HttpResponseError as exc:
                    if error_code(exc) != "ContainerAlreadyExists":
                        raise

    @property
    def part_limits(self) -> PartLimits:
        """Blocks: 1 byte to 4000 MiB each, 50,000 per blob, no ETags to complete."""
        return _PART_LIMITS

    # -- reads, deletes, signed URLs ----------------------------------------

    def _head(self, key: str) -> HeadResult:
        """Size, the content type Azure serves (whoever set it) and the ETag as version."""
        props = self._properties(key, "head")
        etag = str(props.etag) if props.etag else None
        return HeadResult(
            size=int(props.size),
            content_type=props.content_settings.content_type or None,
            etag=etag,
            version=etag,
        )

    def _read_range(self, key: str, start: int, length: int, *, version: str | None) -> bytes:
        """A ranged Get Blob, conditional (``If-Match``) on *version* when given."""
        # A 200 (the whole blob) is looked at before the SDK reads it: never
        # more than the range in memory (see _ranged).
        hook = refuse_whole_answers(start, length)
        with azure_errors("read_range"):
            try:
                blob = self._blob(key)
                if version is None:
                    download = blob.download_blob(
                        offset=start, length=length, raw_response_hook=hook
                    )
                else:
                    download = blob.download_blob(
                        offset=start,
                        length=length,
                        etag=version,
                        match_condition=_IF_MATCH,
                        raw_response_hook=hook,
                    )
                return bytes(download.readall())
            except RangeIgnored as ignored:
                if ignored.prefix is None:
                    raise StorageError(
                        "azure read_range failed: the server ignored the Range header"
                    ) from None
                if version is not None and ignored.etag != version:
                    raise StorageConflict("azure read_range: the blob changed (ETag)") from None
                return ignored.prefix
            except HttpResponseError as exc:
                status = status_code(exc)
                # 412: changed, or gone (Azurite answers 412 for a missing blob
                # too); 416: the blob exists but ends before *start*.
                if status not in (412, 416) or (status == 412 and version is None):
                    raise
        # Outside the handler, so no SDK exception is chained to ours.
        if status == 416:
            raise RangeNotSatisfiable
        self._head(key)  # a missing blob is StorageNotFound, not a conflict
        raise StorageConflict("azure read_range: the blob changed (ETag)")

    def _delete(self, key: str) -> None:
        """Delete the blob and its snapshots, breaking a lease a SAS holder took.

        A part URL's ``w`` permission allows leasing; the broker's delete must
        still win.
        """
        self._delete_blob(self._blob(key), "delete")

    def _presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None,
        content_type: str | None,
        content_disposition: str | None,
    ) -> PresignedRequest:
        """A read-only SAS URL, served with *content_type* / *content_disposition*.

        The overrides are signed into the token (``rsct`` / ``rscd``). A SAS
        cannot bind an ETag: with *version* the blob's ETag is checked when
        the URL is signed (one HEAD; :class:`StorageConflict` if it moved),
        not when the URL is used.
        """
        expires_at = self._expires_at(expires_in)
        if version is not None and self._properties(key, "presign_get").etag != version:
            raise StorageConflict("azure presign_get: the blob changed (ETag)")
        sas = self._signer.blob_sas(
            self.container_name,
            key,
            permission=_READ_PERMISSION,
            expiry=expires_at,
            content_type=content_type,
            content_disposition=content_disposition,
        )
        return PresignedRequest(
            url=f"{self._blob_url(key)}?{sas}", method="GET", expires_at=expires_at
        )

    def _presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A create-only Put Blob URL (SAS ``sp=c`` on this blob only).

        Azure refuses the URL once the blob exists, so a second PUT (with
        this URL or a fresh one) cannot replace it. A service SAS cannot bind
        request headers: the client chooses the Content-Type and length it
        sends; :meth:`head` reports what was stored and promotion compares.
        """
        expires_at = self._expires_at(expires_in)
        return PresignedRequest(
            url=self._signed_url(key, _PUT_PERMISSION, expires_at),
            method="PUT",
            headers={"x-ms-blob-type": "BlockBlob", "Content-Type": content_type},
            expires_at=expires_at,
        )

    # -- staged blocks --------------------------------------------------------

    def _create_multipart(self, key: str, *, content_type: str) -> MultipartUpload:
        """A new upload id; nothing is created remotely until the first block."""
        return MultipartUpload(upload_id=new_upload_id(key))

    def _presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None,
    ) -> PresignedRequest:
        """The Put Block URL for one part (``comp=block&blockid=…``, SAS ``sp=w``)."""
        if not is_upload_id(upload_id, key):
            raise InvalidArgument("not an Azure block upload id of this blob")
        if content_length == 0:
            # Azure refuses empty blocks (Azurite accepts them): an empty
            # file goes up as a single Put Blob instead.
            raise InvalidArgument(f"a block holds 1..{MAX_BLOCK_SIZE} bytes")
        expires_at = self._expires_at(expires_in)
        wire_id = block_id(upload_id, part_number).replace("+", "%2B").replace("/", "%2F")
        sas = self._sas(key, _BLOCK_PERMISSION, expires_at)
        return PresignedRequest(
            url=f"{self._blob_url(key)}?comp=block&blockid={wire_id}&{sas}",
            method="PUT",
            expires_at=expires_at,
            part_number=part_number,
            upload_id=upload_id,
        )

    def _list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
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
        return [UploadedPart(n, None, size) for n, size in staged.items()]

    def _complete_multipart(
        self, key: str, upload_id: str, parts: list[UploadedPart], *, content_type: str
    ) -> None:
        """Commit the parts' blocks, in part order, with Put Block List (``If-None-Match: *``).

        Every named block must be staged (and, when a part states its size,
        have that size) or :class:`InvalidParts` is raised and nothing is
        committed. When a blob already exists under *key*: if it is exactly
        what this call commits (these parts of this upload, this content
        type) the upload was completed before; otherwise
        :class:`StorageConflict` and nothing changes. When nothing is staged
        and the blob is this upload's, :class:`StorageNotFound` (the broker
        converges on the existing blob); a retry after a lost response
        returns normally.
        """
        if not is_upload_id(upload_id, key):
            raise StorageNotFound("unknown Azure block upload")
        staged = self._staged(key, upload_id, "complete_multipart")
        if not staged:
            if self._committed_as(key, upload_id, parts, content_type):
                raise StorageNotFound("the block upload is already committed")
            raise StorageNotFound("no block of this upload is staged")
        missing = [p.part_number for p in parts if p.part_number not in staged]
        if missing:
            raise InvalidParts(f"no block was uploaded for part(s) {_ranges(missing)}")
        wrong = [
            p.part_number for p in parts if p.size is not None and p.size != staged[p.part_number]
        ]
        if wrong:
            raise InvalidParts(f"the stored block size differs for part(s) {_ranges(wrong)}")
        blocks = [
            BlobBlock(block_name(upload_id, p.part_number), BlockState.UNCOMMITTED) for p in parts
        ]
        with azure_errors("complete_multipart"):
            try:
                self._blob(key).commit_block_list(
                    blocks,
                    content_settings=ContentSettings(content_type=content_type),
                    match_condition=MatchConditions.IfMissing,
                )
                return
            except HttpResponseError as exc:
                status, code = status_code(exc), error_code(exc)
                if status not in _EXISTS and code != "InvalidBlockList":
                    raise
        # Outside the handler, so no SDK exception is chained to ours.
        if status in _EXISTS:
            # A blob exists: ours (an earlier attempt, or a retry of this one
            # whose first answer was lost) or someone else's.
            if self._committed_as(key, upload_id, parts, content_type):
                return
            raise StorageConflict(_ANOTHER_BLOB)
        # A concurrent complete committed (and so consumed) the blocks.
        if not self._staged(key, upload_id, "complete_multipart"):
            raise StorageNotFound("the block upload was committed concurrently")
        raise InvalidParts("Azure rejected the block list")

    def _abort_multipart(self, key: str, upload_id: str) -> None:
        """Discard the upload's staged blocks.

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
                if status_code(exc) in _EXISTS:
                    return  # a committed blob exists: keep it
                raise
        # Gone already, or replaced meanwhile (keep that): both are fine.
        with contextlib.suppress(StorageNotFound, StorageConflict):
            self._delete_blob(blob, "abort_multipart", etag=str(result["etag"]))

    def _committed_parts(self, key: str, *, upload_id: str | None) -> list[UploadedPart]:
        """The parts the stored blob was committed from, in commit order.

        Get Block List (committed blocks), each block id decoded back into
        its part number, with its size (``etag`` is ``None``). Raises
        :class:`StorageConflict` when the blob is not one rindle's broker
        commits: a block id rindle never makes, blocks of more than one
        upload (or, with *upload_id*, of another upload), a repeated or
        out-of-order part, a non-block blob, or content written by a whole
        Put Blob. :class:`StorageNotFound` when no blob is committed.
        """
        props = self._properties(key, "committed_parts")
        if getattr(props.blob_type, "value", props.blob_type) != "BlockBlob":
            raise StorageConflict("azure committed_parts: the blob is not a block blob")
        with azure_errors("committed_parts"):
            committed, _ = self._blob(key).get_block_list("committed")
        blocks = [(str(b.id), int(b.size)) for b in committed]
        return decode_committed(blocks, key, int(props.size), upload_id=upload_id)

    # -- plumbing ---------------------------------------------------------------

    def _blob(self, key: str) -> BlobClient:
        return self._container.get_blob_client(key)

    def _blob_url(self, key: str) -> str:
        return f"{self._base_url}/{_blob_path(key)}"

    def _sas(self, key: str, permission: str, expires_at: dt.datetime) -> str:
        """The SAS query for *key*, granting *permission* until *expires_at*."""
        return self._signer.blob_sas(
            self.container_name, key, permission=permission, expiry=expires_at
        )

    def _signed_url(self, key: str, permission: str, expires_at: dt.datetime) -> str:
        return f"{self._blob_url(key)}?{self._sas(key, permission, expires_at)}"

    def _expires_at(self, expires_in: int) -> dt.datetime:
        # SAS expiry times have whole seconds: report exactly what was signed.
        return expiry(self._clock(), expires_in).replace(microsecond=0)

    def _properties(self, key: str, operation: str) -> BlobProperties:
        with azure_errors(operation):
            props: BlobProperties = self._blob(key).get_blob_properties()
        return props

    def _delete_blob(self, blob: BlobClient, operation: str, *, etag: str | None = None) -> None:
        """Delete Blob (with snapshots), breaking a lease someone took; ``If-Match`` *etag*."""
        with azure_errors(operation):
            for attempt in (1, 2):
                try:
                    if etag is None:
                        blob.delete_blob(delete_snapshots="include")
                    else:
                        blob.delete_blob(
                            delete_snapshots="include", etag=etag, match_condition=_IF_MATCH
                        )
                    return
                except HttpResponseError as exc:
                    if attempt == 1 and error_code(exc) == "LeaseIdMissing":
                        BlobLeaseClient(blob).break_lease(lease_break_period=0)
                        continue
                    if etag and status_code(exc) == 412:
                        raise StorageConflict(f"azure {operation}: the blob changed") from None
                    raise

    def _exists(self, key: str) -> bool:
        try:
            self._head(key)
        except StorageNotFound:
            return False
        return True

    def _committed_as(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], content_type: str
    ) -> bool:
        """Whether the blob under *key* is exactly this upload's *parts* with *content_type*.

        ``False`` when no blob exists; :class:`StorageConflict` when another
        blob does.
        """
        try:
            committed = self._committed_parts(key, upload_id=upload_id)
            served = self._head(key).content_type
        except StorageNotFound:
            return False
        except StorageConflict:
            raise StorageConflict(_ANOTHER_BLOB) from None
        if not is_commit_of(committed, parts) or served != content_type:
            raise StorageConflict(_ANOTHER_BLOB)
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
def _blob_path(key: str) -> str:
    """The blob name as a URL path (cached: a block upload signs many parts of one blob)."""
    return quote(key, safe="/~")


def _ranges(numbers: Sequence[int], limit: int = 10) -> str:
    """``"1, 2, 5"`` (at most *limit* numbers, then how many more)."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")
