"""HMAC-SHA256 tokens for the local receiver's signed URLs.

A token binds the HTTP method, the storage key, the content type, the
content length (``None`` when unbound), an expiry (unix seconds) and, for
downloads, the object version and the served ``Content-Type`` /
``Content-Disposition``. The signed message is a JSON array led by a
version tag, so no field can bleed into another and an unbound field
(``null``) never equals a value; the signature carries the same version as
a prefix (``v2.<hex>``) so the format can change without ambiguity (``v1``
tokens, which had no download fields, are refused as bad signatures).

Two kinds of token bind more, appended to the array behind a tag: a
multipart *part* token ``["part", upload id, part number]`` and a form
*POST* token ``["post", min size, max size]``. Either message is longer
than any object token's, the tags keep the two apart, and object tokens
signed before either existed still verify.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Final

import attrs

__all__ = ["FORM_FIELDS", "TOKEN_VERSION", "Claims", "TokenError", "form_fields", "sign", "verify"]

TOKEN_VERSION: Final = "v2"  # noqa: S105 (a format tag)
_DOMAIN: Final = "rindle-local/" + TOKEN_VERSION
#: The form fields a POST carries its token in, by the query name each stands for.
FORM_FIELDS: Final = {
    "exp": "x-rindle-expires",
    "min": "x-rindle-min-size",
    "max": "x-rindle-max-size",
    "sig": "x-rindle-signature",
}
#: Canonical decimal integers only ("007", "+7", "7_0" or " 7" are refused).
_INT: Final = re.compile(r"0|[1-9][0-9]{0,18}")


class TokenError(enum.Enum):
    """Why a token was refused (the receiver maps each to a status)."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"


@attrs.frozen
class Claims:
    """What a signed URL allows: one method on one key, until ``expires``.

    ``version`` binds a download to one stored object (its
    :attr:`~rindle_core.storage.HeadResult.version`);
    ``response_content_type`` / ``response_content_disposition`` are the
    headers the receiver serves it with. ``upload_id`` and ``part_number``
    (both or neither) make it a multipart part upload; ``min_size`` and
    ``max_size`` (both or neither) a form POST's size range.
    """

    method: str
    key: str
    expires: int
    content_type: str | None = None
    content_length: int | None = None
    version: str | None = None
    response_content_type: str | None = None
    response_content_disposition: str | None = None
    upload_id: str | None = None
    part_number: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    #: The part's checksum (base64, in its upload's algorithm), when bound.
    checksum: str | None = None

    @property
    def is_part(self) -> bool:
        """Whether these claims allow one part of a multipart upload."""
        return self.upload_id is not None

    def message(self) -> bytes:
        """The canonical bytes the HMAC covers."""
        fields: list[object] = [
            _DOMAIN,
            self.method.upper(),
            self.key,
            self.content_type,  # None (JSON null) when unbound: never confused with a value
            self.content_length,
            self.expires,
            self.version,
            self.response_content_type,
            self.response_content_disposition,
        ]
        if self.upload_id is not None or self.part_number is not None:
            fields += ["part", self.upload_id, self.part_number]
        if self.checksum is not None:  # absent from older tokens' messages, unchanged
            fields += ["sum", self.checksum]
        if self.min_size is not None or self.max_size is not None:
            fields += ["post", self.min_size, self.max_size]
        return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")

    def query(self, signature: str) -> dict[str, str]:
        """The query parameters of a URL carrying these claims."""
        params = {"exp": str(self.expires)}
        if self.content_type is not None:
            params["ct"] = self.content_type
        if self.content_length is not None:
            params["len"] = str(self.content_length)
        for name, value in (
            ("ver", self.version),
            ("rct", self.response_content_type),
            ("rcd", self.response_content_disposition),
            ("up", self.upload_id),
            ("pn", self.part_number),
            ("min", self.min_size),
            ("max", self.max_size),
            ("ck", self.checksum),
        ):
            if value is not None:
                params[name] = str(value)
        params["sig"] = signature
        return params


def form_fields(claims: Claims, signature: str) -> dict[str, str]:
    """The fields of a form POST under *claims*: ``key``, ``Content-Type``, then the token."""
    query = claims.query(signature)
    fields = {"key": claims.key, "Content-Type": query["ct"]}
    fields.update((field, query[name]) for name, field in FORM_FIELDS.items())
    return fields


def sign(secret: bytes, claims: Claims) -> str:
    """The versioned signature of *claims* under *secret*."""
    digest = hmac.new(secret, claims.message(), hashlib.sha256).hexdigest()
    return f"{TOKEN_VERSION}.{digest}"


def verify(
    secret: bytes,
    method: str,
    key: str,
    query: Mapping[str, str],
    *,
    now: Callable[[], float] = time.time,
) -> Claims | TokenError:
    """Check a request's query against *secret*; return its claims or why not.

    The signature is checked (in constant time) before the expiry, so an
    ``EXPIRED`` answer is only ever given for a genuine token.
    """
    signature = query.get("sig", "")
    numbers: dict[str, int | None] = {}
    for name in ("exp", "len", "pn", "min", "max"):
        text = query.get(name)
        if text is not None and not _INT.fullmatch(text):
            return TokenError.MALFORMED
        numbers[name] = int(text) if text is not None else None
    expires, upload_id = numbers["exp"], query.get("up")
    if expires is None or not signature:
        return TokenError.MALFORMED
    part = (upload_id, numbers["pn"])
    post = (numbers["min"], numbers["max"])
    for pair in (part, post):
        if (pair[0] is None) != (pair[1] is None):
            return TokenError.MALFORMED
    if part[0] is not None and post[0] is not None:
        return TokenError.MALFORMED
    claims = Claims(
        method=method,
        key=key,
        expires=expires,
        content_type=query.get("ct"),
        content_length=numbers["len"],
        version=query.get("ver"),
        response_content_type=query.get("rct"),
        response_content_disposition=query.get("rcd"),
        upload_id=upload_id,
        part_number=numbers["pn"],
        min_size=numbers["min"],
        max_size=numbers["max"],
        checksum=query.get("ck"),
    )
    if claims.checksum is not None and not claims.is_part:
        return TokenError.MALFORMED
    expected = sign(secret, claims)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        return TokenError.BAD_SIGNATURE
    if now() >= expires:
        return TokenError.EXPIRED
    return claims
