"""Translate azure-core exceptions into rindle's storage errors.

``BlobNotFound`` and any other 404 on a blob become
:class:`~rindle_core.StorageNotFound`; a missing *container* is a
configuration problem and stays a plain :class:`~rindle_core.StorageError`
so it is never mistaken for "already cleaned up". Connection failures,
timeouts, throttling and 5xx become :class:`~rindle_core.StorageUnavailable`.
Messages carry only the operation, the HTTP status and Azure's error code:
never the SDK's text, which may quote request URLs or headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from rindle_core import StorageError
from rindle_core.adapters import describe_http_error, map_exceptions

__all__ = ["azure_errors", "error_code", "status_code"]

_TRANSIENT_STATUS: Final = frozenset({408, 429, 500, 502, 503, 504})
_CONTAINER_GONE: Final = frozenset({"ContainerNotFound", "ContainerBeingDeleted"})


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an azure-core exception, if it carries one."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def error_code(exc: BaseException) -> str | None:
    """Azure's ``x-ms-error-code`` (``BlobNotFound``, ``InvalidBlockList``…) if known."""
    code = getattr(exc, "error_code", None)
    if code is None:
        return None
    value = getattr(code, "value", code)
    return str(value) if value else None


def _is_not_found(exc: BaseException) -> bool:
    if error_code(exc) in _CONTAINER_GONE:
        return False
    return isinstance(exc, ResourceNotFoundError) or (
        isinstance(exc, HttpResponseError) and status_code(exc) == 404
    )


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    status = status_code(exc)
    return (
        isinstance(exc, HttpResponseError)
        and status is not None
        and (status in _TRANSIENT_STATUS or status >= 500)
    )


@contextmanager
def azure_errors(operation: str) -> Iterator[None]:
    """Run an SDK call, translating its exceptions; *operation* names it in messages."""

    def describe(exc: BaseException) -> str:
        status = status_code(exc)
        if status is None:
            return f"azure {operation} failed: {type(exc).__name__}"
        return f"azure {operation} failed: {describe_http_error(status, error_code(exc))}"

    with map_exceptions(
        {AzureError: StorageError},
        is_not_found=_is_not_found,
        is_transient=_is_transient,
        describe=describe,
    ):
        yield
