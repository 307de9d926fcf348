"""Object versions (fingerprints) on S3, and the ETag a multipart upload produces.

A version is what :attr:`rindle_core.HeadResult.version` carries: the
object's version id in a versioned bucket, else its ETag. The two cannot be
confused: an ETag is always a quoted string (``"…"`` or ``W/"…"``), a
version id never starts with a quote.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["is_etag", "multipart_etag", "object_version"]

#: The version id S3 reports for objects written while versioning was off
#: or suspended: every replacement gets it again, so it is no fingerprint.
_NULL_VERSION: Final = "null"
_MD5_HEX: Final = re.compile(r"[0-9a-f]{32}", re.I).fullmatch


def _quoted(etag: str) -> str:
    """*etag* as an HTTP entity tag (some S3-compatible servers omit the quotes)."""
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def object_version(response: Mapping[str, object]) -> str | None:
    """The version of the object a HeadObject / GetObject *response* describes."""
    version_id = response.get("VersionId")
    if version_id and version_id != _NULL_VERSION:
        return str(version_id)
    etag = response.get("ETag")
    return _quoted(str(etag)) if etag else None


def is_etag(version: str) -> bool:
    """Whether *version* is an ETag (else it is a version id)."""
    return version.startswith(('"', 'W/"'))


def multipart_etag(part_etags: Sequence[str]) -> str | None:
    """The ETag S3 gives the object completed from these parts, in order.

    It is the MD5 of the concatenated binary part MD5s, then ``-`` and the
    part count. ``None`` when a part's ETag is not an MD5 (SSE-KMS, SSE-C,
    some S3-compatible servers): then the object cannot be recognised.
    """
    digests = []
    for etag in part_etags:
        hex_digest = etag.strip('"')
        if not _MD5_HEX(hex_digest):
            return None
        digests.append(bytes.fromhex(hex_digest))
    if not digests:
        return None
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f'"{combined}-{len(digests)}"'
