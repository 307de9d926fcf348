"""Upload profiles: immutable, validated policy objects identified by name."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import attrs

from ._errors import InvalidProfile

__all__ = ["MAX_KEY_PREFIX", "Profile"]

# Always used with fullmatch (``$`` would accept a trailing newline).
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
_MIME: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9*][a-z0-9!#$&^_.+*-]*")
_EXT: Final = re.compile(r"[a-z0-9]{1,16}")
_PREFIX: Final = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
_MAX_TTL: Final = 7 * 24 * 3600
#: Sizes are stored as signed 64-bit integers.
_MAX_SIZE: Final = 2**63 - 1
#: Longest ``key_prefix``: a key is ``<prefix>/<32-hex id>/<16-hex><.ext>``
#: and must fit the 512-character ``storage_key`` column with room to spare.
MAX_KEY_PREFIX: Final = 256


def _mime_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise InvalidProfile("allow_mime must be a list of MIME types, not a string")
    out = frozenset(v.strip().lower() for v in values)
    for mime in out:
        if not _MIME.fullmatch(mime):
            raise InvalidProfile(f"allow_mime: {mime!r} is not a MIME type")
    return out


def _ext_set(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise InvalidProfile("allow_extensions must be a list, not a string")
    out = frozenset(v.strip().lower().lstrip(".") for v in values)
    for ext in out:
        if not _EXT.fullmatch(ext):
            raise InvalidProfile(f"allow_extensions: {ext!r} is not a file extension")
    return out


def _positive_or_none(name: str) -> Any:
    def check(_: object, __: object, value: int | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SIZE:
            shown = value if isinstance(value, int) and abs(value) < 10**30 else "out of range"
            raise InvalidProfile(f"{name} must be an integer in 0..2**63-1, got {shown!r}")

    return check


@attrs.frozen(kw_only=True)
class Profile:
    """What a class of uploads may be and where it goes.

    ``name`` is the stable key stored in the database: renaming a profile is
    a data migration, never a refactoring. An empty ``allow_mime`` or
    ``allow_extensions`` allows any. Invalid settings raise
    :class:`~rindle_core.InvalidProfile` when the profile is constructed.
    """

    name: str
    #: Name of the configured storage the profile's objects go to.
    storage: str = "local"
    allow_mime: frozenset[str] = attrs.field(factory=frozenset, converter=_mime_set)
    allow_extensions: frozenset[str] = attrs.field(factory=frozenset, converter=_ext_set)
    max_bytes: int | None = attrs.field(default=None, validator=_positive_or_none("max_bytes"))
    min_bytes: int = attrs.field(default=0, validator=_positive_or_none("min_bytes"))
    #: Seconds a session stays usable after it is initiated.
    session_ttl: int = 24 * 3600
    #: Seconds a signed URL stays valid (capped by the session's deadline).
    url_ttl: int = 3600
    #: Preferred multipart part size; the backend's limits still apply.
    part_size: int = 8 * 1024 * 1024
    #: Prefix of every storage key; defaults to the profile name.
    key_prefix: str = ""
    #: Whether the declared content type must match the detected one.
    require_type_match: bool = True
    #: Whether uploads a browser would execute (HTML, JavaScript, SVG or XML with
    #: script, HTML behind a media header) may become available (ADR 0071).
    allow_active_content: bool = attrs.field(default=False)

    @allow_active_content.validator
    def _check_allow_active_content(self, _: attrs.Attribute[bool], value: object) -> None:
        if not isinstance(value, bool):
            raise InvalidProfile(f"allow_active_content must be true or false, got {value!r}")

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise InvalidProfile(
                f"profile name {self.name!r} must be 1-63 chars of a-z, 0-9, '_', '.', '-'"
            )
        if not self.storage or not isinstance(self.storage, str):
            raise InvalidProfile(f"profile {self.name!r}: storage must be a storage name")
        for field, value, low in (
            ("session_ttl", self.session_ttl, 1),
            ("url_ttl", self.url_ttl, 1),
            ("part_size", self.part_size, 1),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not low <= value <= _MAX_SIZE
            ):
                raise InvalidProfile(
                    f"profile {self.name!r}: {field} must be a positive integer below 2**63"
                )
        if self.session_ttl > _MAX_TTL or self.url_ttl > _MAX_TTL:
            raise InvalidProfile(f"profile {self.name!r}: TTLs are capped at 7 days")
        if self.max_bytes is not None and self.max_bytes < self.min_bytes:
            raise InvalidProfile(f"profile {self.name!r}: max_bytes is below min_bytes")
        if not isinstance(self.key_prefix, str):
            raise InvalidProfile(f"profile {self.name!r}: key_prefix must be a string")
        if len(self.key_prefix) > MAX_KEY_PREFIX:
            raise InvalidProfile(
                f"profile {self.name!r}: key_prefix is longer than {MAX_KEY_PREFIX} characters"
            )
        if self.key_prefix and (
            not _PREFIX.fullmatch(self.key_prefix)
            or any(part in (".", "..") for part in self.key_prefix.split("/"))
        ):
            raise InvalidProfile(
                f"profile {self.name!r}: key_prefix {self.key_prefix!r} is invalid"
            )

    @property
    def storage_prefix(self) -> str:
        """The key prefix actually used: ``key_prefix`` or the profile name."""
        return self.key_prefix or self.name
