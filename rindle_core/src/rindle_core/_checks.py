"""Argument checks every adapter needs: keys, header values, offsets, lifetimes."""

from __future__ import annotations

import re
from typing import Final

from ._errors import InvalidArgument

__all__ = [
    "MAX_KEY_BYTES",
    "check_expires_in",
    "check_header",
    "check_key",
    "check_optional_header",
    "check_size",
]

#: The longest key any backend rindle knows takes (S3 and GCS: 1,024 bytes).
MAX_KEY_BYTES: Final = 1024
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: object) -> str:
    """*key* if it is a storage key: 1..1024 UTF-8 bytes, no control characters."""
    if not isinstance(key, str) or not key or len(key.encode("utf-8", "replace")) > MAX_KEY_BYTES:
        raise InvalidArgument(f"a storage key must be a string of 1..{MAX_KEY_BYTES} bytes")
    if _CONTROL.search(key):
        raise InvalidArgument("a storage key must not contain control characters")
    return key


def check_header(name: str, value: object) -> str:
    """*value* if it can be signed or sent as a header: 1..1024 printable ASCII characters.

    Names outside ASCII go in ``filename*=UTF-8''…`` (RFC 6266), which is ASCII.
    """
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > 1024
        or not all(0x20 <= ord(ch) < 0x7F for ch in value)
    ):
        raise InvalidArgument(f"{name} must be 1..1024 printable ASCII characters")
    return value


def check_optional_header(name: str, value: object) -> str | None:
    """:func:`check_header` for a value that may be ``None``."""
    return None if value is None else check_header(name, value)


def check_size(name: str, value: object, *, maximum: int | None = None) -> int:
    """*value* if it is a non-negative ``int`` (not ``bool``) up to *maximum*."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{name} must be a non-negative integer")
    if maximum is not None and value > maximum:
        raise InvalidArgument(f"{name} must be at most {maximum}, got {value}")
    return value


def check_expires_in(value: object, maximum: int) -> int:
    """*value* if it is a whole number of seconds in ``1..maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidArgument(f"expires_in must be between 1 and {maximum} seconds")
    return value
