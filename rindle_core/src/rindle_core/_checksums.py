"""Part checksums: what a part URL can bind, so storage refuses other bytes.

A multipart session may choose a checksum algorithm when it is opened
(``crc32``, the one S3 and boto3 use by default). The client then computes
each part's checksum before the part is signed, the signature binds it
(S3: the ``x-amz-checksum-crc32`` header), and storage refuses a body whose
checksum differs. CRC32 guards against corruption, not forgery: anyone can
make other bytes with the same CRC32 (see ``docs/security.md``).
"""

from __future__ import annotations

import base64
import binascii
import os
import zlib
from collections.abc import Callable, Collection
from typing import Final, TypeVar

import attrs

from ._errors import InvalidArgument

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "PartChecksum",
    "RunningChecksum",
    "check_algorithm",
    "check_bound",
    "file_checksum",
    "with_checksum_keywords",
]

R = TypeVar("R")

#: Bytes read at a time while a checksum is computed.
_CHUNK: Final = 1024 * 1024


#: Every algorithm rindle can compute: name -> (update function, digest size in bytes).
_ALGORITHMS: Final[dict[str, tuple[Callable[[bytes, int], int], int]]] = {
    "crc32": (zlib.crc32, 4),
}

#: The algorithm names, for errors and docs.
CHECKSUM_ALGORITHMS: Final = frozenset(_ALGORITHMS)


def check_algorithm(algorithm: object) -> str:
    """*algorithm* if rindle knows it, else :class:`~rindle_core.InvalidArgument`."""
    if not isinstance(algorithm, str) or algorithm not in _ALGORITHMS:
        known = ", ".join(sorted(_ALGORITHMS))
        raise InvalidArgument(f"checksum algorithm must be one of: {known}")
    return algorithm


def check_bound(algorithm: object, binds: Collection[str], where: str) -> str:
    """*algorithm* if rindle knows it and *where* (a storage) binds it, else
    :class:`~rindle_core.InvalidArgument` naming what it binds."""
    check_algorithm(algorithm)
    assert isinstance(algorithm, str)
    if algorithm not in binds:
        bound = ", ".join(sorted(binds)) or "none"
        raise InvalidArgument(f"{where} cannot bind {algorithm} part checksums (it binds: {bound})")
    return algorithm


def _check_algorithm(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    check_algorithm(value)


def _check_value(instance: PartChecksum, _attribute: attrs.Attribute[str], value: str) -> None:
    size = _ALGORITHMS[instance.algorithm][1]
    try:
        ok = (
            isinstance(value, str)
            and len(value) <= 64
            and len(base64.b64decode(value, validate=True)) == size
        )
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise InvalidArgument(
            f"a {instance.algorithm} checksum is the base64 of {size} bytes (e.g. 'AAAAAA==')"
        )


@attrs.frozen
class PartChecksum:
    """One part's checksum: the algorithm and the base64 of its big-endian digest.

    Both are checked when it is made: an unknown algorithm or a value that is
    not the base64 of a digest of that algorithm's size raises
    :class:`~rindle_core.InvalidArgument`.
    """

    algorithm: str = attrs.field(validator=_check_algorithm)
    value: str = attrs.field(validator=_check_value)

    @classmethod
    def of(cls, algorithm: str, data: bytes) -> PartChecksum:
        """The checksum of *data*."""
        running = RunningChecksum(algorithm)
        running.update(data)
        return running.result()


class RunningChecksum:
    """A checksum computed over bytes as they stream by."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = check_algorithm(algorithm)
        self._update, self._size = _ALGORITHMS[algorithm]
        self._running = 0

    def update(self, data: bytes) -> None:
        """Add *data* (CRC32 releases the GIL over large buffers)."""
        self._running = self._update(data, self._running)

    def result(self) -> PartChecksum:
        """The checksum of every byte added so far."""
        return PartChecksum(self.algorithm, _encode(self._running, self._size))


def file_checksum(algorithm: str, fd: int, offset: int, length: int) -> PartChecksum:
    """The checksum of *length* bytes of the open file *fd* from *offset*.

    Read in 1 MiB slices with ``pread`` (the file position is not moved, so
    threads sending other parts of the same descriptor are not disturbed).
    """
    running, position, end = RunningChecksum(algorithm), offset, offset + length
    while position < end:
        chunk = os.pread(fd, min(_CHUNK, end - position), position)
        if not chunk:
            raise OSError(f"the file ended at byte {position}, before the part's end {end}")
        running.update(chunk)
        position += len(chunk)
    return running.result()


def _encode(digest: int, size: int) -> str:
    return base64.b64encode(digest.to_bytes(size, "big")).decode("ascii")


def with_checksum_keywords(
    method: Callable[..., R], /, *args: object, checksums: dict[str, object], **kwargs: object
) -> R:
    """Call an adapter's *method*, passing each of *checksums* (``checksum_algorithm``,
    ``checksum``) only when it is set: the keywords came after the protocols, and an
    adapter that binds no checksums need not take them (it is never given them)."""
    given = {name: value for name, value in checksums.items() if value is not None}
    return method(*args, **kwargs, **given)
