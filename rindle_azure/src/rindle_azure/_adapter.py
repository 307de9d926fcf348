"""The Azure Blob Storage adapter: block blobs behind rindle's storage seam.

Single uploads are one SAS-signed Put Blob with create-only permission.
Multipart uploads are staged blocks: each part is a Put Block under its own
blob-scoped SAS URL, the broker commits the part list with Put Block List
(``If-None-Match: *``), and the uncommitted block list is the upload's
status. See ``docs/adr/0030-azure-block-mapping.md`` and
``docs/adr/0032-azure-create-only-sas.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

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
    StorageNotFound,
)
from rindle_core._log_redaction import install_log_redaction
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
from ._committed import decode_committed
from ._errors import azure_errors, error_code, status_code
from ._sas import SasSigner
from ._validate import (
    bad_int,
    check_header,
    check_key,
    check_optional_header,
    part_numbers,
    quote_key,
    ranges,
)

__all__ = ["MAX_BLOB_SIZE", "MAX_BLOCK_SIZE", "MAX_PUT_BLOB_SIZE", "AzureBlobStorage"]

_MIB: Final = 1024 * 1024
#: Largest block Put Block accepts (service version 2019-12-12 and later).
MAX_BLOCK_SIZE: Final = 4000 * _MIB
#: Largest blob a single Put Blob may write.
MAX_PUT_BLOB_SIZE: Final = 5000 * _MIB
#: Largest block blob: 50,000 committed blocks of 4000 MiB (about 190.7 TiB).
MAX_BLOB_SIZE: Final = MAX_BLOCKS * MAX_BLOCK_SIZE

#: Put Blob: create only. Azure refuses the token for a blob that exists
#: (a replacement needs "w"), so no upload URL can replace a stored object.
_PUT_PERMISSION: Final = "c"
#: Put Block needs write permission: Azure (and Azurite) refuse "c" for it.
#: What "w" also allows is listed in docs/storage/azure.md.
_BLOCK_PERMISSION: Final = "w"
_READ_PERMISSION: Final = "r"
#: Azure's answers to a conditional write that found a blob.
_EXISTS: Final = frozenset({409, 412})


class AzureBlobStorage:
    """A rindle storage adapter for one Azure Blob Storage container.

    Build it with :func:`rindle_azure.create_storage` (what the ``azure``
    backend type does) or directly from an authenticated
    :class:`~azure.storage.blob.ContainerClient` and a SAS signer. Upload
    URLs are create-only: ``create_only`` is accepted for compatibility and
    must be true.
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
            Capability.COMMITTED_PARTS,
        }
    )

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
        install_log_redaction("azure", "urllib3")

    def close(self) -> None:
        """Close the container client's HTTP pipeline."""
        self._container.close()

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
        """Size, the content type Azure serves (whoever set it) and the ETag as version."""
        props = self._properties(key, "head")
        etag = str(props.etag) if props.etag else None
        return HeadResult(
            size=int(props.size),
            content_type=props.content_settings.content_type or None,
            etag=etag,
            version=etag,
        )

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        """Bytes ``start..start+length`` (clipped at the end).

        With *version* (an ETag from :meth:`head`) the read is conditional
        (``If-Match``): :class:`StorageConflict` when the blob changed.
        """
        if bad_int(start) or bad_int(length):
            raise InvalidArgument("start and length must be non-negative integers")
        check_optional_header("version", version)
        if length == 0:
            self._check_version(key, version, "read_range", always=True)
            return b""
        condition: dict[str, Any] = (
            {"etag": version, "match_condition": MatchConditions.IfNotModified} if version else {}
        )
        with azure_errors("read_range"):
            try:
                blob = self._blob(key)
                return bytes(blob.download_blob(offset=start, length=length, **condition).readall())
            except HttpResponseError as exc:
                status = status_code(exc)
                # 412: changed, or gone (Azurite answers 412 for a missing blob
                # too); 416: the blob exists but ends before *start*.
                if status not in (412, 416) or (status == 412 and not version):
                    raise
        # Outside the handler, so no SDK exception is chained to ours.
        self._check_version(key, version, "read_range", always=True)
        if status == 412:
            raise StorageConflict("azure read_range: the blob changed (ETag)")
        return b""

    def delete(self, key: str) -> None:
        """Delete the blob and its snapshots; a missing blob is success.

        A lease a SAS holder took on the blob is broken first (a part URL's
        ``w`` permission allows leasing; the broker's delete must still win).
        """
        with contextlib.suppress(StorageNotFound):
            self._delete(self._blob(key), "delete")

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest:
        """A read-only SAS URL, served with *content_type* / *content_disposition*.

        The overrides are signed into the token (``rsct`` / ``rscd``). A SAS
        cannot bind an ETag: with *version* the blob's ETag is checked when
        the URL is signed (one HEAD; :class:`StorageConflict` if it moved),
        not when the URL is used.
        """
        check_optional_header("content_type", content_type, ascii_only=True)
        check_optional_header("content_disposition", content_disposition, ascii_only=True)
        check_optional_header("version", version)
        expires_at = self._expiry(expires_in)
        check_key(key)
        self._check_version(key, version, "presign_get")
        sas = self._signer.blob_sas(
            self.container_name,
            key,
            permission=_READ_PERMISSION,
            expiry=expires_at,
            content_type=content_type,
            content_disposition=content_disposition,
        )
        url = f"{self._blob_url(key)}?{sas}"
        return PresignedRequest(url=url, method="GET", headers={}, expires_at=expires_at)

    # -- PRESIGNED_PUT ----------------------------------------------------------

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A create-only Put Blob URL (SAS ``sp=c`` on this blob only).

        Azure refuses the URL once the blob exists, so a second PUT (with
        this URL or a fresh one) cannot replace it. A service SAS cannot bind
        request headers: the client chooses the Content-Type and length it
        sends; :meth:`head` reports what was stored and promotion compares.
        """
        check_header("content_type", content_type)
        if content_length is not None:
            if bad_int(content_length):
                raise InvalidArgument("content_length must be a non-negative integer")
            if content_length > MAX_PUT_BLOB_SIZE:
                raise InvalidArgument(
                    f"a single Put Blob holds at most {MAX_PUT_BLOB_SIZE} bytes; use multipart"
                )
        expires_at = self._expiry(expires_in)
        url = self._signed_url(key, _PUT_PERMISSION, expires_at)
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
            # Block URLs need `sp=w`, which can also commit or Put Blob: the
            # broker promotes only once every part URL has expired.
            part_urls_outlive_completion=True,
        )

    def create_multipart(self, key: str, *, content_type: str) -> MultipartInit:
        """A new upload id; nothing is created remotely until the first block."""
        check_key(key)
        check_header("content_type", content_type)
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
        """The Put Block URL for one part (``comp=block&blockid=…``, SAS ``sp=w``)."""
        check_key(key)
        if not is_upload_id(upload_id, key):
            raise InvalidArgument("not an Azure block upload id of this blob")
        if bad_int(part_number) or not 1 <= part_number <= MAX_BLOCKS:
            raise InvalidArgument(f"part number must be in 1..{MAX_BLOCKS}")
        if content_length is not None and (
            bad_int(content_length) or not 1 <= content_length <= MAX_BLOCK_SIZE
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
        check_header("content_type", content_type)
        if not is_upload_id(upload_id, key):
            raise StorageNotFound("unknown Azure block upload")
        numbers = part_numbers(parts)
        staged = self._staged(key, upload_id, "complete_multipart")
        if not staged:
            if self._committed_as(key, upload_id, parts, content_type):
                raise StorageNotFound("the block upload is already committed")
            raise StorageNotFound("no block of this upload is staged")
        missing = [n for n in numbers if n not in staged]
        if missing:
            raise InvalidParts(f"no block was uploaded for part(s) {ranges(missing)}")
        wrong = [
            p.part_number for p in parts if p.size is not None and p.size != staged[p.part_number]
        ]
        if wrong:
            raise InvalidParts(f"the stored block size differs for part(s) {ranges(wrong)}")
        blocks = [BlobBlock(block_name(upload_id, n), BlockState.UNCOMMITTED) for n in numbers]
        with azure_errors("complete_multipart"):
            try:
                self._blob(key).commit_block_list(
                    blocks,
                    content_settings=ContentSettings(content_type=content_type),
                    match_condition=MatchConditions.IfMissing,
                )
            except HttpResponseError as exc:
                if status_code(exc) in _EXISTS:
                    # A blob exists: ours (an earlier attempt, or a retry of
                    # this one whose first answer was lost) or someone else's.
                    if self._committed_as(key, upload_id, parts, content_type):
                        return
                    raise StorageConflict(
                        "azure complete_multipart: another blob exists under this key"
                    ) from None
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
                if status_code(exc) in _EXISTS:
                    return  # a committed blob exists: keep it
                raise
        # Gone already, or replaced meanwhile (keep that): both are fine.
        with contextlib.suppress(StorageNotFound, StorageConflict):
            self._delete(blob, "abort_multipart", etag=str(result["etag"]))

    # -- COMMITTED_PARTS ------------------------------------------------------

    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]:
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
        check_key(key)
        return self._container.get_blob_client(key)

    def _blob_url(self, key: str) -> str:
        return f"{self._base_url}/{quote_key(key)}"

    def _sas(self, key: str, permission: str, expires_at: dt.datetime) -> str:
        """The SAS query for *key* (already checked by the caller)."""
        return self._signer.blob_sas(
            self.container_name, key, permission=permission, expiry=expires_at
        )

    def _signed_url(self, key: str, permission: str, expires_at: dt.datetime) -> str:
        check_key(key)
        return f"{self._blob_url(key)}?{self._sas(key, permission, expires_at)}"

    def _expiry(self, expires_in: int) -> dt.datetime:
        if bad_int(expires_in) or expires_in < 1:
            raise InvalidArgument("expires_in must be a positive number of seconds")
        # SAS expiry times have whole seconds: report exactly what was signed.
        return (self._clock() + dt.timedelta(seconds=expires_in)).replace(microsecond=0)

    def _properties(self, key: str, operation: str) -> BlobProperties:
        with azure_errors(operation):
            props: BlobProperties = self._blob(key).get_blob_properties()
        return props

    def _check_version(
        self, key: str, version: str | None, operation: str, *, always: bool = False
    ) -> None:
        """:class:`StorageConflict` unless the blob's ETag is *version*.

        Without *version* no call is made, unless *always* (then only a
        missing blob raises, :class:`StorageNotFound`).
        """
        if version is None and not always:
            return
        etag = self._properties(key, operation).etag
        if version is not None and etag != version:
            raise StorageConflict(f"azure {operation}: the blob changed (ETag)")

    def _delete(self, blob: BlobClient, operation: str, *, etag: str | None = None) -> None:
        """Delete Blob (with snapshots), breaking a lease someone took; ``If-Match`` *etag*."""
        condition: dict[str, Any] = (
            {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}
        )
        with azure_errors(operation):
            for attempt in (1, 2):
                try:
                    blob.delete_blob(delete_snapshots="include", **condition)
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
            self.head(key)
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
            committed = self.committed_parts(key, upload_id=upload_id)
            served = self.head(key).content_type
        except StorageNotFound:
            return False
        except StorageConflict:
            raise StorageConflict(
                "azure complete_multipart: another blob exists under this key"
            ) from None
        sizes = {p.part_number: p.size for p in parts}
        same = [p.part_number for p in committed] == sorted(sizes) and all(
            sizes[p.part_number] in (None, p.size) for p in committed
        )
        if not same or served != content_type:
            raise StorageConflict("azure complete_multipart: another blob exists under this key")
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
