"""HMAC-SHA256 tokens for the local receiver's signed URLs.

A token binds the HTTP method, the storage key, the content type, the
content length (``None`` when unbound), an expiry (unix seconds) and, for
downloads, the object version and the served ``Content-Type`` /
``Content-Disposition``. The signed message is a JSON array led by a
version tag, so no field can bleed into another and an unbound field
(``null``) never equals a value; the signature carries the same version as
a prefix (``v2.<hex>``) so the format can change without ambiguity (``v1``
tokens, which had no download fields, are refused as bad signatures).
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

__all__ = ["TOKEN_VERSION", "Claims", "TokenError", "sign", "verify"]

TOKEN_VERSION: Final = "v2"  # noqa: S105 (a format tag)
_DOMAIN: Final = "rindle-local/" + TOKEN_VERSION
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
    headers the receiver serves it with.
    """

    method: str
    key: str
    expires: int
    content_type: str | None = None
    content_length: int | None = None
    version: str | None = None
    response_content_type: str | None = None
    response_content_disposition: str | None = None

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
        ):
            if value is not None:
                params[name] = value
        params["sig"] = signature
        return params


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
    expires_text = query.get("exp", "")
    length_text = query.get("len")
    signature = query.get("sig", "")
    if not _INT.fullmatch(expires_text) or not signature:
        return TokenError.MALFORMED
    if length_text is not None and not _INT.fullmatch(length_text):
        return TokenError.MALFORMED
    expires = int(expires_text)
    length = int(length_text) if length_text is not None else None
    claims = Claims(
        method=method,
        key=key,
        expires=expires,
        content_type=query.get("ct"),
        content_length=length,
        version=query.get("ver"),
        response_content_type=query.get("rct"),
        response_content_disposition=query.get("rcd"),
    )
    expected = sign(secret, claims)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        return TokenError.BAD_SIGNATURE
    if now() >= expires:
        return TokenError.EXPIRED
    return claims
