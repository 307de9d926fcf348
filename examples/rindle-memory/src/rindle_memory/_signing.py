"""Signed URLs: an HMAC-SHA256 of the method, the path and every query parameter.

Whatever a URL binds is a query parameter, so it is covered by the
signature: the expiry, the ``content-type`` and ``content-length`` a PUT
must carry, the ``version`` a GET may serve, the response headers it sets,
a part's upload id and number. The server checks the signature first and
the expiry second, then holds the request to the bound values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import quote, urlencode

__all__ = ["EXPIRES", "SIGNATURE", "object_path", "sign_url", "verify"]

SIGNATURE: Final = "signature"
EXPIRES: Final = "expires"
_DOMAIN: Final = "rindle-memory/1"


def object_path(bucket: str, key: str) -> str:
    """The (unquoted) path of *key* in *bucket*: what the signature covers."""
    return f"/{bucket}/{key}"


def sign_url(
    secret: bytes,
    method: str,
    base_url: str,
    path: str,
    params: Mapping[str, str],
    *,
    expires: int,
) -> str:
    """*base_url* + *path* with *params*, an expiry (unix seconds) and their signature."""
    query = {**params, EXPIRES: str(expires)}
    query[SIGNATURE] = _signature(secret, method, path, query)
    return f"{base_url}{quote(path, safe='/')}?{urlencode(sorted(query.items()), quote_via=quote)}"


def verify(
    secret: bytes,
    method: str,
    path: str,
    query: Mapping[str, str],
    *,
    now: Callable[[], float] = time.time,
) -> str | None:
    """``None`` if the request's signature holds and has not expired, else an error code."""
    signature = query.get(SIGNATURE, "")
    expires = query.get(EXPIRES, "")
    if not signature or not expires.isdigit():
        return "AccessDenied"
    unsigned = {name: value for name, value in query.items() if name != SIGNATURE}
    expected = _signature(secret, method, path, unsigned)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "SignatureDoesNotMatch"
    if now() >= int(expires):
        return "RequestExpired"
    return None


def _signature(secret: bytes, method: str, path: str, query: Mapping[str, str]) -> str:
    # A JSON array: no field can bleed into the next one.
    message = json.dumps([_DOMAIN, method.upper(), path, sorted(query.items())])
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()
