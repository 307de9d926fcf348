"""Translate google-cloud-storage, google-api-core and raw HTTP failures into rindle's errors.

Messages carry an operation name, an HTTP status and an exception *type*
name, never the SDK's own text: that text quotes request URLs, which for a
resumable session are bearer credentials.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage import exceptions as storage_exceptions

from rindle_core import StorageConflict, StorageError, StorageNotFound, StorageUnavailable
from rindle_core.adapters import map_exceptions

__all__ = [
    "TRANSIENT_STATUSES",
    "NotFoundKind",
    "error_for_status",
    "gcs_errors",
    "not_found_kind",
]

#: HTTP statuses worth retrying later (GCS's own retry guidance).
TRANSIENT_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


def error_for_status(operation: str, status: int) -> StorageError:
    """The rindle error for an unexpected HTTP *status* from GCS.

    ``412 Precondition Failed`` is a :class:`~rindle_core.StorageConflict`:
    every precondition rindle sends is create-only or version-bound.
    """
    message = f"GCS {operation} failed: HTTP {status}"
    if status == 404:
        return StorageNotFound(message)
    if status == 412:
        return StorageConflict(message)
    if status in TRANSIENT_STATUSES:
        return StorageUnavailable(message)
    return StorageError(message)


class NotFoundKind(enum.Enum):
    """What a GCS ``404`` says is missing."""

    BUCKET = "bucket"
    OBJECT = "object"
    UNKNOWN = "unknown"


def not_found_kind(exc: BaseException) -> NotFoundKind:
    """Read GCS's own wording of a 404: the bucket, the object, or it does not say.

    GCS answers "The specified bucket does not exist." and "No such object:
    BUCKET/KEY"; emulators (and bodiless answers) say neither.
    """
    texts = [str(getattr(exc, "message", "") or exc)]
    for error in getattr(exc, "errors", None) or []:
        if isinstance(error, Mapping):
            texts.append(str(error.get("message", "")))
    text = " ".join(texts).lower()
    if "specified bucket does not exist" in text:
        return NotFoundKind.BUCKET
    if "no such object" in text:
        return NotFoundKind.OBJECT
    return NotFoundKind.UNKNOWN


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, api_exceptions.NotFound)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(
        exc,
        requests.ConnectionError
        | requests.Timeout
        | auth_exceptions.TransportError
        | api_exceptions.RetryError
        | ConnectionError
        | TimeoutError,
    ):
        return True
    status = _status(exc)
    return status is not None and status in TRANSIENT_STATUSES


@contextmanager
def gcs_errors(operation: str, *, conflict: bool = False) -> Iterator[None]:
    """Map SDK exceptions raised inside the block to rindle's storage errors.

    With *conflict*, ``412 Precondition Failed`` (a create-only or
    version-bound request refused) is :class:`~rindle_core.StorageConflict`.
    """

    def describe(exc: BaseException) -> str:
        status = _status(exc)
        detail = f"HTTP {status}" if status is not None else type(exc).__name__
        return f"GCS {operation} failed: {detail}"

    conflicts: dict[type[BaseException], type[StorageError]] = (
        {api_exceptions.PreconditionFailed: StorageConflict} if conflict else {}
    )
    with map_exceptions(
        {
            **conflicts,
            api_exceptions.GoogleAPIError: StorageError,
            auth_exceptions.GoogleAuthError: StorageError,
            storage_exceptions.InvalidResponse: StorageError,
            storage_exceptions.DataCorruption: StorageError,
            requests.RequestException: StorageError,
        },
        is_not_found=_is_not_found,
        is_transient=_is_transient,
        describe=describe,
    ):
        yield
