"""Translate google-cloud-storage, google-api-core and raw HTTP failures into rindle's errors.

Messages carry an operation name, an HTTP status and an exception *type*
name, never the SDK's own text: that text quotes request URLs, which for a
resumable session are bearer credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage import exceptions as storage_exceptions

from rindle_core import StorageError, StorageNotFound, StorageUnavailable
from rindle_core.storage import map_exceptions

__all__ = ["TRANSIENT_STATUSES", "error_for_status", "gcs_errors"]

#: HTTP statuses worth retrying later (GCS's own retry guidance).
TRANSIENT_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


def error_for_status(operation: str, status: int) -> StorageError:
    """The rindle error for an unexpected HTTP *status* from GCS."""
    message = f"GCS {operation} failed: HTTP {status}"
    if status == 404:
        return StorageNotFound(message)
    if status in TRANSIENT_STATUSES:
        return StorageUnavailable(message)
    return StorageError(message)


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
def gcs_errors(operation: str) -> Iterator[None]:
    """Map SDK exceptions raised inside the block to rindle's storage errors."""

    def describe(exc: BaseException) -> str:
        status = _status(exc)
        detail = f"HTTP {status}" if status is not None else type(exc).__name__
        return f"GCS {operation} failed: {detail}"

    with map_exceptions(
        {
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
