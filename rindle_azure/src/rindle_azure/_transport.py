"""Bounded waits for the SDK's service calls: timeouts and a retry budget.

The SDK's defaults (20 s to connect, 60 s between bytes, 3 retries after
15 s, 18 s and 24 s) let one call against a hanging service block for about
five minutes. rindle's defaults bound it to well under a minute; see
``docs/adr/0034-azure-bounded-waits.md``.
"""

from __future__ import annotations

from typing import Any, Final

from azure.storage.blob import ExponentialRetry

from rindle_core import ConfigurationError

__all__ = [
    "DEFAULT_CONNECTION_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RETRIES",
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


def client_transport_options(
    *, connection_timeout: object, read_timeout: object, retries: object
) -> dict[str, Any]:
    """Validated keyword arguments for ``BlobServiceClient`` (transport and retry policy)."""
    connect = _seconds("connection_timeout", connection_timeout)
    read = _seconds("read_timeout", read_timeout)
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise ConfigurationError("storage 'azure': option 'retries' must be an integer")
    if not 0 <= retries <= _MAX_RETRIES:
        raise ConfigurationError(
            f"storage 'azure': option 'retries' must be an integer in 0..{_MAX_RETRIES}"
        )
    policy = ExponentialRetry(
        initial_backoff=1,
        increment_base=2,
        retry_total=retries,
        random_jitter_range=1,
        retry_connect=retries,
        retry_status=retries,
        retry_read=min(retries, _MAX_READ_RETRIES),
    )
    return {
        "connection_timeout": connect,
        "read_timeout": read,
        "retry_total": retries,
        "retry_policy": policy,
    }


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"storage 'azure': option {name!r} must be a number of seconds")
    # Compare before float(): a huge int would overflow; NaN and inf fail here.
    if not 0 < value <= _MAX_TIMEOUT:
        raise ConfigurationError(
            f"storage 'azure': option {name!r} must be more than 0 and at most "
            f"{_MAX_TIMEOUT:g} seconds"
        )
    return float(value)
