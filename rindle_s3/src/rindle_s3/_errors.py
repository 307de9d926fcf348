"""Translate botocore's exceptions into rindle's storage errors.

Messages name the S3 operation, the error code and the HTTP status, never
the SDK's message: an S3 error body may quote the signature it rejected, and
connection errors quote URLs. SDK exceptions are never chained.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from rindle_core import (
    InvalidParts,
    StorageConflict,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

__all__ = ["CONFLICT_CODES", "error_code", "http_status", "s3_errors", "translate"]

#: Codes meaning "the object or the multipart upload does not exist".
NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "NoSuchUpload", "NotFound", "404"})

#: Codes of failures worth retrying later (throttling, server trouble).
TRANSIENT_CODES: Final = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "OperationAborted",
        "PriorRequestNotComplete",
    }
)

#: Codes CompleteMultipartUpload uses to reject the part list.
INVALID_PARTS_CODES: Final = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall"})

#: Codes of a failed precondition: ``If-None-Match: *`` found an object,
#: ``If-Match`` found another ETag, or a concurrent conditional write won.
CONFLICT_CODES: Final = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


def error_code(exc: ClientError) -> str:
    """The S3 error code of *exc* (``"404"`` for a HEAD, which has no body)."""
    return str(exc.response.get("Error", {}).get("Code", "") or "")


def http_status(exc: ClientError) -> int | None:
    """The HTTP status of the response behind *exc*, if known."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def translate(exc: BaseException, operation: str, *, invalid_parts: bool = False) -> StorageError:
    """The rindle error for a botocore exception raised by *operation*.

    With ``invalid_parts`` (CompleteMultipartUpload), a rejected part list
    becomes :class:`~rindle_core.InvalidParts`; it is a
    :class:`~rindle_core.InvalidArgument`, not a storage error, so it is
    raised rather than returned.
    """
    # Imported here: botocore is loaded once a client exists (ADR 0119).
    from botocore import exceptions as sdk

    if isinstance(exc, sdk.ClientError):
        code = error_code(exc)
        status = http_status(exc)
        message = f"S3 {operation} failed: {code or 'error'}" + (
            f" (HTTP {status})" if status else ""
        )
        if invalid_parts and code in INVALID_PARTS_CODES:
            raise InvalidParts(message) from None
        if code in CONFLICT_CODES or status == 412:
            return StorageConflict(message)
        if code in NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
            return StorageNotFound(message)
        if code in TRANSIENT_CODES or status == 429 or (status is not None and status >= 500):
            return StorageUnavailable(message)
        return StorageError(message)
    if isinstance(exc, sdk.NoCredentialsError | sdk.PartialCredentialsError):
        return StorageError(f"S3 {operation} failed: no usable AWS credentials")
    transient = (
        sdk.ConnectionError,
        sdk.HTTPClientError,
        sdk.ConnectionClosedError,
        sdk.IncompleteReadError,
        sdk.ResponseStreamingError,
    )
    if isinstance(exc, transient):
        return StorageUnavailable(f"S3 {operation} failed: {type(exc).__name__}")
    return StorageError(f"S3 {operation} failed: {type(exc).__name__}")


@contextlib.contextmanager
def s3_errors(operation: str, *, invalid_parts: bool = False) -> Iterator[None]:
    """Raise botocore exceptions from the block as rindle errors (unchained)."""
    try:
        yield
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(exc, ClientError | BotoCoreError):
            raise
        raise translate(exc, operation, invalid_parts=invalid_parts) from None
