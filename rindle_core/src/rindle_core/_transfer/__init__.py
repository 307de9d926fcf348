"""The upload client's engine: pooled connections, zero-copy bodies, retries, parts.

:mod:`rindle_core.client` is the public face; this package is how it sends.
"""

from __future__ import annotations

from ._http import Body, Cancelled, ConnectionPool, FileSlice, Reply, SendError, Transport
from ._parts import Part, SignChecksummedParts, SignParts, upload_parts
from ._retry import RetryPolicy
from ._single import failure, send

__all__ = [
    "Body",
    "Cancelled",
    "ConnectionPool",
    "FileSlice",
    "Part",
    "Reply",
    "RetryPolicy",
    "SendError",
    "SignChecksummedParts",
    "SignParts",
    "Transport",
    "failure",
    "send",
    "upload_parts",
]
