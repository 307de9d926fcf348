"""The block-id scheme that maps multipart parts onto Azure block blob blocks.

An upload id is 24 lowercase hex characters generated locally (starting an
Azure block upload needs no remote call): 16 random ones, then 8 derived
from the blob name, so an id is only ever valid for the blob it was made
for. Part *n* of upload *u* is the block whose id is
``base64("<u>.<n:05d>")``: 30 ASCII bytes, so every id is exactly 40 base64
characters without padding. Azure requires all block ids of one blob to have
the same length; carrying the upload id lets :func:`part_number` ignore
blocks that another upload left on the same blob.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Final

__all__ = [
    "MAX_BLOCKS",
    "block_id",
    "block_name",
    "decode_block",
    "is_upload_id",
    "new_upload_id",
    "part_number",
]

#: Azure's limit on committed blocks per blob, hence on part numbers.
MAX_BLOCKS: Final = 50_000

_UPLOAD_ID: Final = re.compile(r"[0-9a-f]{24}")
_NAME: Final = re.compile(r"([0-9a-f]{24})\.([0-9]{5})")


def _key_tag(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def new_upload_id(key: str) -> str:
    """A fresh upload id for the blob *key* (no remote call)."""
    return secrets.token_hex(8) + _key_tag(key)


def is_upload_id(value: object, key: str) -> bool:
    """Whether *value* is an upload id this scheme made for the blob *key*."""
    return (
        isinstance(value, str)
        and isinstance(key, str)
        and _UPLOAD_ID.fullmatch(value) is not None
        and value[16:] == _key_tag(key)
    )


def block_name(upload_id: str, number: int) -> str:
    """The decoded block id of part *number* (what azure-storage-blob takes and returns)."""
    if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError("malformed upload id")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_BLOCKS:
        raise ValueError(f"part number must be an integer in 1..{MAX_BLOCKS}")
    return f"{upload_id}.{number:05d}"


def block_id(upload_id: str, number: int) -> str:
    """The wire block id of part *number* (the ``blockid`` query parameter, unquoted)."""
    return base64.b64encode(block_name(upload_id, number).encode("ascii")).decode("ascii")


def decode_block(name: str, key: str) -> tuple[str, int] | None:
    """``(upload_id, part_number)`` of a decoded block id this scheme made for
    the blob *key*, or ``None`` for any other block id."""
    match = _NAME.fullmatch(name)
    if match is None or not is_upload_id(match.group(1), key):
        return None
    number = int(match.group(2))
    return (match.group(1), number) if 1 <= number <= MAX_BLOCKS else None


def part_number(name: str, upload_id: str) -> int | None:
    """The part number a decoded block id stands for, or ``None`` if it is not
    a block of *upload_id*."""
    match = _NAME.fullmatch(name)
    if match is None or match.group(1) != upload_id:
        return None
    number = int(match.group(2))
    return number if 1 <= number <= MAX_BLOCKS else None
