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

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal, TypedDict

from rindle_core.plugins import Options, check_integer
from rindle_core.plugins import check_seconds as _check_seconds

if TYPE_CHECKING:
    from botocore.config import Config

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_READ_TIMEOUT",
    "MAX_ATTEMPTS",
    "MAX_SECONDS",
    "OPTIONS",
    "AddressingStyle",
    "StorageArguments",
    "check_attempts",
    "check_seconds",
    "client_config",
    "read_options",
]

#: How the bucket goes into URLs: ``virtual`` (host), ``path``, or ``auto``.
AddressingStyle = Literal["auto", "path", "virtual"]

#: Seconds to wait for a TCP (and TLS) connection.
DEFAULT_CONNECT_TIMEOUT: Final = 5.0
#: Seconds to wait between two reads of a response: S3 answers in well
#: under a second, and keeps a slow CompleteMultipartUpload alive by sending
#: whitespace, so this bounds silence, not the length of a call. With three
#: attempts a silent store fails after about 33 s (ADR 0019).
DEFAULT_READ_TIMEOUT: Final = 10.0
#: Attempts per API call, the first included.
DEFAULT_MAX_ATTEMPTS: Final = 3

#: The longest wait a timeout option accepts.
MAX_SECONDS: Final = 3600
#: The most attempts ``max_attempts`` accepts.
MAX_ATTEMPTS: Final = 20


def check_seconds(name: str, value: object) -> float:
    """*value* as seconds, if it is a finite number in (0, 3600]."""
    return _check_seconds(name, value, maximum=MAX_SECONDS)


def check_attempts(value: object) -> int:
    """*value*, if it is an integer from 1 to 20."""
    return check_integer("max_attempts", value, maximum=MAX_ATTEMPTS)


def client_config(
    *, addressing_style: str, max_attempts: int, connect_timeout: float, read_timeout: float
) -> Config:
    """The configuration of the adapter's boto3 client (see ADR 0014 and 0019).

    Imports botocore: the adapter calls it when it builds a client, not
    before (ADR 0119).
    """
    from botocore.config import Config

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


#: The options of a ``type = "s3"`` storage.
OPTIONS: Final = (
    "bucket",
    "region",
    "endpoint_url",
    "addressing_style",
    "profile",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "max_attempts",
    "connect_timeout",
    "read_timeout",
    "part_checksums",
)
_STYLES: Final[Mapping[str, AddressingStyle]] = {
    "auto": "auto",
    "path": "path",
    "virtual": "virtual",
}


class StorageArguments(TypedDict):
    """:class:`~rindle_s3.S3Storage`'s keyword arguments, read from options."""

    region: str | None
    endpoint_url: str | None
    addressing_style: AddressingStyle
    profile: str | None
    aws_access_key_id: str | None
    aws_secret_access_key: str | None
    aws_session_token: str | None
    max_attempts: int
    connect_timeout: float
    read_timeout: float
    part_checksums: bool | None


def read_options(
    options: Mapping[str, object], *, base_dir: str | os.PathLike[str] | None = None
) -> tuple[str, StorageArguments]:
    """The bucket and the other constructor arguments of an ``s3`` storage's *options*."""
    read = Options(options, known=OPTIONS, base_dir=base_dir)
    bucket = read.string("bucket", required=True)
    style = read.string("addressing_style", "auto", choices=_STYLES)
    return bucket, StorageArguments(
        region=read.string("region"),
        endpoint_url=read.string("endpoint_url"),
        addressing_style=_STYLES[style],
        profile=read.string("profile"),
        aws_access_key_id=read.string("aws_access_key_id"),
        aws_secret_access_key=read.string("aws_secret_access_key"),
        aws_session_token=read.string("aws_session_token"),
        max_attempts=read.integer("max_attempts", DEFAULT_MAX_ATTEMPTS, maximum=MAX_ATTEMPTS),
        connect_timeout=read.seconds(
            "connect_timeout", DEFAULT_CONNECT_TIMEOUT, maximum=MAX_SECONDS
        ),
        read_timeout=read.seconds("read_timeout", DEFAULT_READ_TIMEOUT, maximum=MAX_SECONDS),
        part_checksums=read.boolean("part_checksums"),
    )
