"""Checks on what a caller attaches to an upload: its owner and its metadata.

Pure functions, run before anything is written or created remotely. Error
messages name what is wrong, never the caller's values (metadata may hold
anything the host cares about).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from ._errors import InvalidArgument
from ._frozen import FrozenMapping, freeze

__all__ = [
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_OWNER_LENGTH",
    "check_metadata",
    "check_owner",
]

#: The longest owner id, in characters (the column's width).
MAX_OWNER_LENGTH = 255
#: The largest metadata, in bytes of compact UTF-8 JSON.
MAX_METADATA_BYTES = 16 * 1024
#: The deepest nesting of objects and arrays; the metadata object itself is depth 1.
MAX_METADATA_DEPTH = 8


def check_owner(owner: object) -> str | None:
    """*owner* if it is a usable owner id: a non-blank, printable (single-line)
    string of at most :data:`MAX_OWNER_LENGTH` characters; None stays None."""
    if owner is None:
        return None
    if not isinstance(owner, str):
        raise InvalidArgument(f"owner must be a string, not {type(owner).__name__}")
    if not owner.strip():
        raise InvalidArgument("owner must not be empty or blank")
    if len(owner) > MAX_OWNER_LENGTH:
        raise InvalidArgument(f"owner must be at most {MAX_OWNER_LENGTH} characters")
    if not owner.isprintable():
        raise InvalidArgument("owner must be printable text on one line")
    return owner


def check_metadata(metadata: object) -> FrozenMapping[object]:
    """*metadata* as stored and read back: a frozen copy of a JSON object.

    Keys are strings; values are JSON (``None``, ``bool``, ``int``, finite
    ``float``, ``str``, lists or tuples, and objects), nested at most
    :data:`MAX_METADATA_DEPTH` deep and at most :data:`MAX_METADATA_BYTES`
    as compact JSON. None is the empty object. The copy is what the
    database returns (subclasses such as enums become their JSON values).
    """
    if metadata is None:
        return FrozenMapping()
    if not isinstance(metadata, Mapping):
        raise InvalidArgument(f"metadata must be a JSON object, not {type(metadata).__name__}")
    plain = _plain(metadata, depth=1)
    try:
        encoded = json.dumps(plain, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # an int too long to print
        raise InvalidArgument("metadata holds a number too large for JSON") from None
    if len(encoded.encode("utf-8")) > MAX_METADATA_BYTES:
        raise InvalidArgument(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    decoded: dict[str, object] = json.loads(encoded)
    return FrozenMapping({key: freeze(value) for key, value in decoded.items()})


def _plain(value: object, *, depth: int) -> object:
    """A plain copy of *value* (dicts, lists, scalars) for :mod:`json`, or
    :class:`InvalidArgument` unless it is JSON within the depth limit (a
    cycle exceeds it)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument("metadata numbers must be finite (no NaN or infinity)")
        return value
    if isinstance(value, str):
        _check_text(value)
        return value
    if not isinstance(value, Mapping | list | tuple):
        raise InvalidArgument(
            f"metadata values must be JSON (str, number, bool, None, list or object), "
            f"not {type(value).__name__}"
        )
    if depth > MAX_METADATA_DEPTH:
        raise InvalidArgument(f"metadata must be nested at most {MAX_METADATA_DEPTH} deep")
    if isinstance(value, list | tuple):
        return [_plain(item, depth=depth + 1) for item in value]
    copy: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidArgument(f"metadata keys must be strings, not {type(key).__name__}")
        _check_text(key)
        copy[key] = _plain(item, depth=depth + 1)
    return copy


def _check_text(text: str) -> None:
    """Raise unless *text* is storable by every database: valid Unicode, no NUL."""
    if "\x00" in text:
        raise InvalidArgument("metadata text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument("metadata text must be valid Unicode (no lone surrogates)") from None
