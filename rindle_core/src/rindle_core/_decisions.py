"""The broker's decisions, kept apart from I/O.

Pure functions: policy at the door, key and filename rules, deadlines, part
lists. A future asyncio broker shares these rather than copying them.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from ._errors import InvalidArgument, InvalidParts, PolicyViolation
from .profiles import Profile
from .storage import PartLimits, UploadedPart

__all__ = [
    "check_declared_upload",
    "check_id",
    "check_part_number",
    "extension_contradicts",
    "extension_of",
    "mime_allowed",
    "missing_parts",
    "new_id",
    "normalise_content_type",
    "normalise_parts",
    "part_count",
    "part_length",
    "same_type_family",
    "sanitize_filename",
    "session_deadline",
    "signing_ttl",
    "storage_key",
]

#: Sizes are stored as signed 64-bit integers.
MAX_SIZE: Final = 2**63 - 1
_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")
_MIME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_EXT_RE: Final = re.compile(r"^[a-z0-9]{1,16}$")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


def new_id() -> str:
    """A new unguessable id: 128 random bits as 32 hex characters."""
    return uuid.UUID(bytes=secrets.token_bytes(16)).hex


def check_id(value: object, what: str = "session id") -> str:
    """Return *value* if it is a well-formed id, else raise InvalidArgument."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise InvalidArgument(f"malformed {what}: {shown!r}")
    return value


def sanitize_filename(filename: object) -> str:
    """A display-safe base name: no paths, control characters or odd bytes."""
    if not isinstance(filename, str):
        raise InvalidArgument("filename must be a string")
    name = unicodedata.normalize("NFKC", filename)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name).strip("._")
    return name[:200] or "upload"


def extension_of(filename: str) -> str:
    """The lower-case extension of a (sanitized) file name, or ``""``."""
    base = sanitize_filename(filename)
    if "." not in base:
        return ""
    ext = base.rsplit(".", 1)[1].lower()
    return ext if _EXT_RE.match(ext) else ""


def normalise_content_type(value: object) -> str:
    """``type/subtype`` in lower case, parameters dropped; InvalidArgument if malformed."""
    if not isinstance(value, str):
        raise InvalidArgument("content_type must be a string")
    mime = value.split(";", 1)[0].strip().lower()
    if not _MIME_RE.match(mime):
        raise InvalidArgument(f"malformed content type {value[:80]!r}")
    return mime


def check_declared_upload(
    profile: Profile, *, filename: str, content_type: str, size: int | None
) -> None:
    """Refuse at the door what the profile forbids (PolicyViolation)."""
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
            raise InvalidArgument(f"size must be an integer in 0..2**63-1, got {size!r}")
        if profile.max_bytes is not None and size > profile.max_bytes:
            raise PolicyViolation("max_bytes_exceeded", f"{size} > {profile.max_bytes}")
        if size < profile.min_bytes:
            raise PolicyViolation("min_bytes_not_met", f"{size} < {profile.min_bytes}")
    if profile.allow_mime and not mime_allowed(content_type, profile.allow_mime):
        raise PolicyViolation("mime_not_allowed", content_type)
    ext = extension_of(filename)
    if profile.allow_extensions and ext not in profile.allow_extensions:
        raise PolicyViolation("extension_not_allowed", ext or "(none)")
    if (
        profile.require_type_match
        and content_type != "application/octet-stream"
        and extension_contradicts(ext, content_type)
    ):
        raise PolicyViolation("extension_type_mismatch", f".{ext} is not {content_type}")


def extension_contradicts(ext: str, mime: str) -> bool:
    """True when *ext* is known to name a different type than *mime*."""
    guessed = mimetypes.types_map.get("." + ext) if ext else None
    return bool(guessed) and not same_type_family(guessed or "", mime)


def mime_allowed(mime: str, allowed: Iterable[str]) -> bool:
    for pattern in allowed:
        if pattern == mime or (pattern.endswith("/*") and mime.startswith(pattern[:-1])):
            return True
    return False


_ALIASES: Final[Mapping[str, frozenset[str]]] = {
    "image/jpeg": frozenset({"image/jpg", "image/pjpeg"}),
    "text/plain": frozenset({"text/csv", "text/markdown"}),
    "application/xml": frozenset({"text/xml"}),
    "audio/mpeg": frozenset({"audio/mp3"}),
}


def same_type_family(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    return actual in _ALIASES.get(expected, frozenset()) or expected in _ALIASES.get(
        actual, frozenset()
    )


def storage_key(profile: Profile, asset_id: str, filename: str) -> str:
    """``<prefix>/<asset id>/<random><.ext>``: never the raw file name."""
    ext = extension_of(filename)
    suffix = f".{ext}" if ext else ""
    return f"{profile.storage_prefix}/{asset_id}/{secrets.token_hex(8)}{suffix}"


def session_deadline(profile: Profile, now: dt.datetime, expires_in: int | None) -> dt.datetime:
    """When a new session expires: ``expires_in`` or the profile's TTL."""
    ttl = profile.session_ttl if expires_in is None else expires_in
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 7 * 24 * 3600:
        raise InvalidArgument("expires_in must be between 1 second and 7 days")
    return now + dt.timedelta(seconds=ttl)


def signing_ttl(
    profile: Profile, now: dt.datetime, deadline: dt.datetime, expires_in: int | None
) -> int:
    """Seconds a URL signed now stays valid: never beyond the session's deadline."""
    ttl = profile.url_ttl if expires_in is None else expires_in
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise InvalidArgument("expires_in must be a positive number of seconds")
    remaining = int((deadline - now).total_seconds())
    return max(1, min(ttl, remaining))


def check_part_number(part_number: object, limits: PartLimits) -> int:
    """The part number if within ``1..max_parts``, else InvalidArgument."""
    if isinstance(part_number, bool) or not isinstance(part_number, int):
        raise InvalidArgument("part_number must be an integer")
    if not 1 <= part_number <= limits.max_parts:
        raise InvalidArgument(
            f"part_number must be within 1..{limits.max_parts}, got {part_number}"
        )
    return part_number


def normalise_parts(
    parts: Sequence[UploadedPart | Mapping[str, Any]], limits: PartLimits
) -> list[UploadedPart]:
    """Validate a client's part list: numbers in range, no duplicates, ETags present."""
    if isinstance(parts, str | bytes) or not isinstance(parts, Sequence):
        raise InvalidParts("parts must be a list")
    if not parts:
        raise InvalidParts("the part list is empty")
    out: list[UploadedPart] = []
    for item in parts:
        if isinstance(item, UploadedPart):
            part = item
        elif isinstance(item, Mapping):
            number = item.get("part_number", item.get("PartNumber"))
            etag = item.get("etag", item.get("ETag"))
            if etag is not None and not isinstance(etag, str):
                raise InvalidParts("etag must be a string")
            if isinstance(number, bool) or not isinstance(number, int):
                raise InvalidParts("each part needs an integer part_number")
            part = UploadedPart(part_number=number, etag=etag)
        else:
            raise InvalidParts("each part must be an UploadedPart or a mapping")
        if not 1 <= part.part_number <= limits.max_parts:
            raise InvalidParts(f"part number {part.part_number} outside 1..{limits.max_parts}")
        if limits.etag_required and not (part.etag and part.etag.strip('"')):
            raise InvalidParts(f"part {part.part_number} has no ETag")
        out.append(part)
    numbers = [p.part_number for p in out]
    if len(set(numbers)) != len(numbers):
        raise InvalidParts("duplicate part numbers")
    return sorted(out, key=lambda p: p.part_number)


def part_count(size: int, part_size: int) -> int:
    """How many parts *size* bytes make (an empty upload is one empty part)."""
    return max(1, -(-size // part_size))


def part_length(size: int | None, part_size: int, number: int) -> int | None:
    """The exact length of part *number* for a declared size (None if unknown)."""
    if size is None:
        return None
    if number > part_count(size, part_size):
        raise InvalidArgument(f"part {number} is beyond the declared size")
    return min(part_size, size - (number - 1) * part_size)


def missing_parts(size: int | None, part_size: int, held: Iterable[int]) -> tuple[int, ...]:
    """Part numbers a client still has to send for a declared size."""
    if size is None:
        return ()
    have = set(held)
    return tuple(n for n in range(1, part_count(size, part_size) + 1) if n not in have)
