"""The botocore client configuration: bounded waits and a retry budget.

Every API call the adapter makes (HEAD, ranged GET, complete, abort…) waits
at most ``connect_timeout`` for a connection and ``read_timeout`` between
two reads of the answer, and is tried at most ``max_attempts`` times in
total (botocore's "standard" retry mode, with jittered backoff). A store
that accepts connections and never answers therefore fails after about
``max_attempts * read_timeout`` plus backoff, as
:class:`~rindle_core.StorageUnavailable`.
"""

from __future__ import annotations

from typing import Final

from botocore.config import Config

from rindle_core import ConfigurationError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_READ_TIMEOUT",
    "check_attempts",
    "check_seconds",
    "client_config",
]

#: Seconds to wait for a TCP (and TLS) connection.
DEFAULT_CONNECT_TIMEOUT: Final = 5.0
#: Seconds to wait between two reads of a response: S3 answers in well
#: under a second, and keeps a slow CompleteMultipartUpload alive by sending
#: whitespace, so this bounds silence, not the length of a call. With three
#: attempts a silent store fails after about 33 s (ADR 0019).
DEFAULT_READ_TIMEOUT: Final = 10.0
#: Attempts per API call, the first included.
DEFAULT_MAX_ATTEMPTS: Final = 3

_MAX_SECONDS: Final = 3600
_MAX_ATTEMPTS: Final = 20


def check_seconds(name: str, value: object) -> float:
    """*value* as seconds, if it is a finite number in (0, 3600]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= _MAX_SECONDS  # false for NaN; exact for huge integers
    ):
        raise ConfigurationError(
            f"{name} must be a number of seconds above 0 and at most {_MAX_SECONDS}"
        )
    return float(value)


def check_attempts(value: object) -> int:
    """*value*, if it is an integer from 1 to 20."""
    if type(value) is not int or not 1 <= value <= _MAX_ATTEMPTS:
        raise ConfigurationError(f"max_attempts must be an integer between 1 and {_MAX_ATTEMPTS}")
    return value


def client_config(
    *, addressing_style: str, max_attempts: int, connect_timeout: float, read_timeout: float
) -> Config:
    """The configuration of the adapter's boto3 client (see ADR 0014 and 0019)."""
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # Checksums only where S3 requires them: S3-compatible servers
        # differ in their support of the newer default checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
