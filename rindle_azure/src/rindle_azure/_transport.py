"""Bounded waits for the SDK's service calls: timeouts and a retry budget.

The SDK's defaults (20 s to connect, 60 s between bytes, 3 retries after
15 s, 18 s and 24 s) let one call against a hanging service block for about
five minutes. rindle's defaults bound it to well under a minute; see
``docs/adr/0034-azure-bounded-waits.md``.
"""

from __future__ import annotations

from typing import Final, TypedDict

from azure.storage.blob import ExponentialRetry

from rindle_core.plugins import check_integer, check_seconds

__all__ = [
    "DEFAULT_CONNECTION_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RETRIES",
    "TransportOptions",
    "client_transport_options",
]

#: Seconds to establish a connection, per attempt.
DEFAULT_CONNECTION_TIMEOUT: Final = 5.0
#: Seconds without a byte of the answer before an attempt fails.
DEFAULT_READ_TIMEOUT: Final = 10.0
#: Retries after the first attempt (connection failures, throttling, 5xx).
DEFAULT_RETRIES: Final = 2
#: A read timeout is retried at most once: a service that hangs once
#: usually hangs again, and each retry costs a whole read_timeout.
_MAX_READ_RETRIES: Final = 1
_MAX_TIMEOUT: Final = 600.0
_MAX_RETRIES: Final = 10


class TransportOptions(TypedDict):
    """Keyword arguments for ``BlobServiceClient``: timeouts and the retry policy."""

    connection_timeout: float
    read_timeout: float
    retry_total: int
    retry_policy: ExponentialRetry


def client_transport_options(
    *, connection_timeout: object, read_timeout: object, retries: object
) -> TransportOptions:
    """Validated keyword arguments for ``BlobServiceClient`` (transport and retry policy)."""
    connect = check_seconds("connection_timeout", connection_timeout, maximum=_MAX_TIMEOUT)
    read = check_seconds("read_timeout", read_timeout, maximum=_MAX_TIMEOUT)
    retries = check_integer("retries", retries, minimum=0, maximum=_MAX_RETRIES)
    policy = ExponentialRetry(
        initial_backoff=1,
        increment_base=2,
        retry_total=retries,
        random_jitter_range=1,
        retry_connect=retries,
        retry_status=retries,
        retry_read=min(retries, _MAX_READ_RETRIES),
    )
    return TransportOptions(
        connection_timeout=connect,
        read_timeout=read,
        retry_total=retries,
        retry_policy=policy,
    )
