"""Argument checks shared by the adapter's methods (they raise rindle's typed errors)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import quote

from rindle_core import InvalidArgument, InvalidParts
from rindle_core.storage import UploadedPart

from ._blocks import MAX_BLOCKS

__all__ = [
    "bad_int",
    "check_header",
    "check_key",
    "check_optional_header",
    "part_numbers",
    "quote_key",
    "ranges",
]

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


@functools.lru_cache(maxsize=256)
def quote_key(key: str) -> str:
    """The blob name as a URL path (cached: a block upload signs many parts of one blob)."""
    return quote(key, safe="/~")


def bad_int(value: object) -> bool:
    """Whether *value* is not a non-negative ``int`` (``bool`` is refused)."""
    return isinstance(value, bool) or not isinstance(value, int) or value < 0


def check_key(key: object) -> None:
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise InvalidArgument("a blob name must be a string of 1..1024 characters")
    if _CONTROL.search(key):
        raise InvalidArgument("a blob name must not contain control characters")


def check_header(name: str, value: object, *, ascii_only: bool = False) -> None:
    """A header value rindle signs or sends: one line, no control characters.

    *ascii_only* for values Azure echoes as response headers (``rsct`` /
    ``rscd``): encode other names as ``filename*=UTF-8''…`` (RFC 6266).
    """
    if not isinstance(value, str) or not value or _CONTROL.search(value):
        raise InvalidArgument(f"{name} must be a non-empty single-line string")
    if ascii_only and not value.isascii():
        raise InvalidArgument(f"{name} must be ASCII (use filename*=UTF-8'' for other names)")


def check_optional_header(name: str, value: object, *, ascii_only: bool = False) -> None:
    if value is not None:
        check_header(name, value, ascii_only=ascii_only)


def part_numbers(parts: Sequence[UploadedPart]) -> list[int]:
    """Validated part numbers in ascending order."""
    if isinstance(parts, str | bytes) or not parts:
        raise InvalidParts("the part list is empty")
    numbers: list[int] = []
    for part in parts:
        if not isinstance(part, UploadedPart):
            raise InvalidParts("each part must be an UploadedPart")
        number = part.part_number
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_BLOCKS:
            raise InvalidParts(f"part number {number!r} outside 1..{MAX_BLOCKS}")
        numbers.append(number)
    if len(set(numbers)) != len(numbers):
        raise InvalidParts("duplicate part numbers")
    return sorted(numbers)


def ranges(numbers: Sequence[int], limit: int = 10) -> str:
    """``"1, 2, 5"`` (at most *limit* numbers, then how many more)."""
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")
