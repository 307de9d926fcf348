"""A ranged Get Blob never holds more than the range, even if the server ignores it.

Azure answers a ranged Get Blob ``206``. A ``200`` is the whole blob, from
its first byte: a proxy or an emulator that ignored ``x-ms-range``. The
SDK would read all of it into memory before rindle saw it, so a response
hook looks first: past the blob's start the answer is refused unread; from
the start its first ``length`` bytes are the range, read and kept, the rest
never read. Either way the connection is closed, not drained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["RangeIgnored", "refuse_whole_answers"]


class RangeIgnored(Exception):
    """The server sent the whole blob; ``prefix`` holds its first bytes when they
    are the range asked for (a read from the start), else ``None``; ``etag``
    is the answer's ETag."""

    def __init__(self, prefix: bytes | None, etag: str | None) -> None:
        super().__init__("the server ignored the Range header")
        self.prefix = prefix
        self.etag = etag


def refuse_whole_answers(start: int, length: int) -> Callable[[Any], None]:
    """A ``raw_response_hook`` for a Get Blob of *length* bytes from *start*."""

    def hook(pipeline_response: Any) -> None:
        response = pipeline_response.http_response
        if response.status_code != 200:
            return  # 206: the range; an error: the SDK's to raise
        prefix = _read_at_most(response, length) if start == 0 else None
        _drop(response)
        raise RangeIgnored(prefix, response.headers.get("ETag"))

    return hook


def _read_at_most(response: Any, length: int) -> bytes | None:
    """Up to *length* bytes of a streamed answer, or None if it cannot be read so."""
    raw = getattr(getattr(response, "internal_response", None), "raw", None)
    if raw is None or not hasattr(raw, "read"):
        return None  # not the requests transport: refuse rather than buffer
    chunks: list[bytes] = []
    wanted = length
    while wanted > 0:
        chunk = raw.read(min(wanted, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _drop(response: Any) -> None:
    """Close the answer's connection without reading the rest of its body."""
    internal = getattr(response, "internal_response", None)
    raw = getattr(internal, "raw", None)
    if raw is not None and hasattr(raw, "close"):
        raw.close()  # urllib3: closes the socket, drains nothing
    if internal is not None and hasattr(internal, "close"):
        internal.close()
