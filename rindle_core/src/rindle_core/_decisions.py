"""The broker's decisions, kept apart from I/O.

Pure functions: policy at the door, key and filename rules, deadlines, part
lists. A future asyncio broker shares these rather than copying them.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from ._active_content import declared_active_content
from ._errors import InvalidArgument, InvalidParts, PolicyViolation
from ._mimetypes import canonical, compatible, types_for_extension
from .profiles import Profile
from .states import SessionState
from .storage import PartChecksum, PartLimits, UploadedPart

__all__ = [
    "check_declared_upload",
    "check_id",
    "check_part_geometry",
    "check_part_list",
    "check_part_number",
    "choose_part_size",
    "content_range_parts",
    "extension_contradicts",
    "extension_of",
    "lifetime",
    "mime_allowed",
    "missing_parts",
    "new_id",
    "normalise_content_type",
    "normalise_parts",
    "part_count",
    "part_length",
    "progress_state",
    "same_type_family",
    "sanitize_filename",
    "session_deadline",
    "signing_ttl",
    "storage_key",
    "verification_path",
]

#: Sizes are stored as signed 64-bit integers.
MAX_SIZE: Final = 2**63 - 1
# Anchored with \A…\Z, not ^…$: "$" also matches before a trailing newline.
_ID_RE: Final = re.compile(r"\A[0-9a-f]{32}\Z")
_MIME_RE: Final = re.compile(
    r"\A[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\Z"
)
_EXT_RE: Final = re.compile(r"\A[a-z0-9]{1,16}\Z")
#: Longest display file name; the extension is kept when a name is cut.
_MAX_NAME: Final = 200
#: Unicode categories a display name keeps: letters, digits, combining marks.
_KEPT: Final = ("L", "N", "Mn", "Mc")


def new_id() -> str:
    """A new unguessable id: 128 random bits as 32 hex characters."""
    return uuid.UUID(bytes=secrets.token_bytes(16)).hex


def check_id(value: object, what: str = "session id") -> str:
    """Return *value* if it is a well-formed id, else raise InvalidArgument."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise InvalidArgument(f"malformed {what}: {shown!r}")
    return value


def sanitize_filename(filename: object) -> str:
    """A display-safe base name that keeps Unicode letters and the extension.

    NFKC-normalised; only the last path component (``/`` or ``\\``); control
    and format characters (RTL overrides, zero-width joiners) dropped; any
    other character that is not a letter, digit, combining mark, ``.``,
    ``_`` or ``-`` becomes ``_``; no leading or trailing dot or underscore.
    An ASCII extension survives: a name left with no stem becomes
    ``upload.<ext>``, a name over 200 characters is cut before its
    extension. Never empty, and idempotent.
    """
    if not isinstance(filename, str):
        raise InvalidArgument("filename must be a string")
    name = filename
    for _ in range(8):  # a second round only when dropping characters let NFKC compose
        cleaned = _clean_name(name)
        if cleaned == name:
            break
        name = cleaned
    return name


def _clean_name(raw: str) -> str:
    name = unicodedata.normalize("NFKC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    out: list[str] = []
    for ch in name:
        category = unicodedata.category(ch)
        if category[0] == "C":
            continue
        if ch in "._-" or category in _KEPT or category[0] in _KEPT:
            out.append(ch)
        elif not out or out[-1] != "_":
            out.append("_")
    name = unicodedata.normalize("NFKC", "".join(out))
    stem, dot, ext = name.rpartition(".")
    if not (dot and ext.isascii() and ext.isalnum() and len(ext) <= 16):
        return name.strip("._")[:_MAX_NAME].rstrip("._") or "upload"
    stem = stem.strip("._")[: _MAX_NAME - len(ext) - 1].rstrip("._")
    return f"{stem or 'upload'}.{ext}"


def extension_of(filename: str) -> str:
    """The lower-case ASCII extension of the sanitized file name, or ``""``."""
    base = sanitize_filename(filename)
    if "." not in base:
        return ""
    ext = base.rsplit(".", 1)[1].lower()
    return ext if _EXT_RE.fullmatch(ext) else ""


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
    if not profile.allow_active_content:
        # Decided on the declaration alone; SVG and XML wait for their content.
        active = declared_active_content(content_type, ext)
        if active:
            raise PolicyViolation("active_content", active)


def extension_contradicts(ext: str, mime: str) -> bool:
    """True when rindle's type table says *ext* holds something other than *mime*.

    Reads :mod:`rindle_core._mimetypes`, never the process-wide
    :mod:`mimetypes` table. An unknown extension contradicts nothing.
    """
    known = types_for_extension(ext) if ext else ()
    return bool(known) and not any(compatible(candidate, mime) for candidate in known)


def mime_allowed(mime: str, allowed: Iterable[str]) -> bool:
    """Whether *mime* matches an entry of *allowed* (``type/subtype`` or ``type/*``).

    Aliases count as the same type (``image/pjpeg`` is ``image/jpeg``);
    families do not (``video/mp4`` is not ``audio/mp4``).
    """
    name = canonical(mime)
    for pattern in allowed:
        if pattern.endswith("/*"):
            if name.startswith(pattern[:-1]) or mime.startswith(pattern[:-1]):
                return True
        elif canonical(pattern) == name:
            return True
    return False


def same_type_family(expected: str, actual: str) -> bool:
    """Whether two types can name the same bytes: an alias, a group or a container."""
    return compatible(expected, actual)


def storage_key(profile: Profile, asset_id: str, filename: str) -> str:
    """``<prefix>/<asset id>/<random><.ext>``: never the raw file name."""
    ext = extension_of(filename)
    suffix = f".{ext}" if ext else ""
    return f"{profile.storage_prefix}/{asset_id}/{secrets.token_hex(8)}{suffix}"


def lifetime(expires_in: object) -> int:
    """*expires_in* if it is a whole number of seconds from 1 to 7 days, else InvalidArgument."""
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not 1 <= expires_in <= 7 * 24 * 3600
    ):
        raise InvalidArgument("expires_in must be between 1 second and 7 days")
    return expires_in


def session_deadline(profile: Profile, now: dt.datetime, expires_in: int | None) -> dt.datetime:
    """When a new session expires: ``expires_in`` or the profile's TTL."""
    ttl = lifetime(profile.session_ttl if expires_in is None else expires_in)
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


def check_part_list(parts: Sequence[UploadedPart], limits: PartLimits) -> list[UploadedPart]:
    """*parts* in ascending order if they can complete an upload, else InvalidParts.

    Non-empty, each an :class:`UploadedPart` numbered within ``1..max_parts``,
    no number twice, an ETag on each where the backend needs one.
    """
    if isinstance(parts, str | bytes) or not isinstance(parts, Sequence):
        raise InvalidParts("parts must be a list")
    if not parts:
        raise InvalidParts("the part list is empty")
    seen: set[int] = set()
    for part in parts:
        if not isinstance(part, UploadedPart):
            raise InvalidParts("each part must be an UploadedPart")
        number = part.part_number
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidParts("each part needs an integer part_number")
        if not 1 <= number <= limits.max_parts:
            raise InvalidParts(f"part number {number} outside 1..{limits.max_parts}")
        if limits.etag_required and not (part.etag and part.etag.strip('"')):
            raise InvalidParts(f"part {number} has no ETag")
        if number in seen:
            raise InvalidParts("duplicate part numbers")
        seen.add(number)
    return sorted(parts, key=lambda p: p.part_number)


#: S3's wire names for a part's fields, accepted (deprecated) in client part lists.
_WIRE_NAMES: Final = {"PartNumber": "part_number", "ETag": "etag"}


def normalise_parts(
    parts: Sequence[UploadedPart | Mapping[str, object]],
    limits: PartLimits,
    *,
    checksum_algorithm: str | None = None,
) -> list[UploadedPart]:
    """A client's part list as checked :class:`UploadedPart` objects, in order.

    Mappings carry ``part_number``, ``etag`` and, where the upload binds part
    checksums (*checksum_algorithm*), ``checksum`` (its base64 value). The S3
    wire names ``PartNumber``/``ETag`` still work, deprecated: a web layer
    that speaks a client's protocol (Uppy's S3 plugin) translates them itself.
    """
    if isinstance(parts, str | bytes) or not isinstance(parts, Sequence):
        raise InvalidParts("parts must be a list")
    out: list[UploadedPart] = []
    wire_names = False
    for item in parts:
        if isinstance(item, UploadedPart):
            out.append(_same_checksum_algorithm(item, checksum_algorithm))
            continue
        if not isinstance(item, Mapping):
            raise InvalidParts("each part must be an UploadedPart or a mapping")
        fields = dict(item)
        for wire, name in _WIRE_NAMES.items():
            if wire in fields and name not in fields:
                wire_names = True
                fields[name] = fields[wire]
        number, etag = fields.get("part_number"), fields.get("etag")
        if etag is not None and not isinstance(etag, str):
            raise InvalidParts("etag must be a string")
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidParts("each part needs an integer part_number")
        checksum = _part_checksum(fields.get("checksum"), checksum_algorithm)
        out.append(UploadedPart(part_number=number, etag=etag, checksum=checksum))
    if wire_names:
        warnings.warn(
            "part lists with 'PartNumber'/'ETag' are deprecated: use 'part_number'/'etag'",
            DeprecationWarning,
            stacklevel=3,
        )
    return check_part_list(out, limits)


def _part_checksum(value: object, algorithm: str | None) -> PartChecksum | None:
    """A mapping's ``checksum``, read in the upload's algorithm."""
    if value is None:
        return None
    if algorithm is None:
        raise InvalidParts("this upload binds no part checksums: leave 'checksum' out")
    if not isinstance(value, str):
        raise InvalidParts("checksum must be a string")
    try:
        return PartChecksum(algorithm, value)
    except InvalidArgument as exc:
        raise InvalidParts(str(exc)) from None


def _same_checksum_algorithm(part: UploadedPart, algorithm: str | None) -> UploadedPart:
    if part.checksum is not None and part.checksum.algorithm != algorithm:
        raise InvalidParts(
            f"part {part.part_number} carries a {part.checksum.algorithm} checksum;"
            f" this upload binds {algorithm or 'none'}"
        )
    return part


def content_range_parts(size: int, part_size: int) -> list[tuple[int, int, int]]:
    """Split *size* bytes into ``(part_number, offset, length)`` triples."""
    if size == 0:
        return [(1, 0, 0)]
    return [
        (index + 1, offset, min(part_size, size - offset))
        for index, offset in enumerate(range(0, size, part_size))
    ]


def choose_part_size(size: int | None, requested: int | None, limits: PartLimits) -> int:
    """Pick a part size within *limits* so that *size* fits in ``max_parts``.

    *requested* (a profile's or caller's preference) is raised when it would
    need too many parts, and clamped to the backend's limits.
    """
    part = requested or 8 * 1024 * 1024
    part = max(part, limits.min_part_size)
    if size is not None and size > 0:
        needed = -(-size // limits.max_parts)  # ceil division
        part = max(part, needed)
    return min(part, limits.max_part_size)


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


def check_part_geometry(parts: Sequence[UploadedPart], size: int | None, part_size: int) -> None:
    """Refuse a part list that cannot assemble the whole upload (InvalidParts).

    With a declared size the list must hold exactly parts ``1..N`` of its
    geometry, each of its exact length where the list knows sizes; without
    one it must still be ``1..n`` with no gap.
    """
    numbers = sorted(p.part_number for p in parts)
    if size is not None:
        count = part_count(size, part_size)
        beyond = [n for n in numbers if n > count]
        if beyond:
            raise InvalidParts(
                f"parts {_ranges(beyond)} are beyond the declared size ({count} parts)"
            )
        missing = missing_parts(size, part_size, numbers)
        wrong = [
            p.part_number
            for p in parts
            if p.size is not None and p.size != part_length(size, part_size, p.part_number)
        ]
        if wrong and not missing:
            raise InvalidParts(f"parts {_ranges(wrong)} do not have the declared geometry's size")
    else:
        missing = tuple(sorted(set(range(1, numbers[-1] + 1)) - set(numbers))) if numbers else ()
    if missing:
        raise InvalidParts(f"the part list lacks parts {_ranges(missing)}", missing=missing)


def _ranges(numbers: Iterable[int]) -> str:
    """``1-3, 7`` for [1, 2, 3, 7] (short even for thousands of parts)."""
    out: list[str] = []
    run: list[int] = []
    for n in sorted(numbers):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [n]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def progress_state(
    state: SessionState, strategy: str, committed: int, before: int
) -> SessionState | None:
    """The state a status poll that found *committed* bytes moves a session to.

    A multipart upload whose backend holds parts is ``uploading``. A
    resumable session whose client asks where to continue, with bytes already
    held, is ``resuming``; once more bytes arrive it is ``uploading``.
    """
    if committed <= 0:
        return None
    if state is SessionState.SIGNED:
        return SessionState.RESUMING if strategy == "resumable" else SessionState.UPLOADING
    if state is SessionState.RESUMING and committed > before:
        return SessionState.UPLOADING
    return None


#: The states verification walks through, from each verifiable state, to reach
#: ``verifying`` (storage holding the object makes the session ``uploaded``).
_TO_VERIFYING: Final[Mapping[SessionState, tuple[SessionState, ...]]] = {
    SessionState.SIGNED: (SessionState.UPLOADED, SessionState.VERIFYING),
    SessionState.RESUMING: (SessionState.UPLOADING, SessionState.UPLOADED, SessionState.VERIFYING),
    SessionState.UPLOADING: (SessionState.UPLOADED, SessionState.VERIFYING),
    SessionState.UPLOADED: (SessionState.VERIFYING,),
}


def verification_path(state: SessionState) -> tuple[SessionState, ...]:
    """The moves from *state* to ``verifying`` (empty when it cannot verify)."""
    return _TO_VERIFYING.get(state, ())
