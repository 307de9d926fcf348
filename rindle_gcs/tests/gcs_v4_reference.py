"""An independent V4 signer for the tests, written from Google's documentation.

It shares no code with ``rindle_gcs``: it is what the HMAC signatures are
checked against (google-cloud-storage cannot sign with an HMAC key), and is
itself checked against Google's V4 conformance vectors
(``test_gcs_v4_vectors.py``). Steps, as
https://cloud.google.com/storage/docs/authentication/signatures states them:

* canonical request: method, path, sorted percent-encoded query, headers
  (lowercased names, whitespace runs collapsed, sorted, ``name:value``
  lines), signed header names, payload (``x-goog-content-sha256`` when
  signed, else ``UNSIGNED-PAYLOAD``);
* string to sign: algorithm, timestamp, scope, SHA-256 of the canonical request;
* HMAC signing key: HMAC-SHA256 chained from ``"GOOG4" + secret`` over the
  date, ``auto``, ``storage`` and ``goog4_request``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

__all__ = ["canonical_request", "hmac_signature", "object_path", "string_to_sign"]


def _encode(text: str) -> str:
    # RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8.
    return "".join(
        chr(byte) if chr(byte).isalnum() and byte < 128 or chr(byte) in "-._~" else f"%{byte:02X}"
        for byte in text.encode("utf-8")
    )


def canonical_request(
    *,
    method: str,
    path: str,
    host: str,
    algorithm: str,
    authorizer: str,
    timestamp: str,
    expires: int,
    headers: Mapping[str, str] = {},  # noqa: B006 - read only
    query: Mapping[str, str] = {},  # noqa: B006 - read only
) -> tuple[str, str]:
    """``(canonical request, canonical query)`` of a V4 signed URL."""
    lines: dict[str, list[str]] = {"host": [host]}
    for name, value in headers.items():
        lines.setdefault(name.strip().lower(), []).append(" ".join(value.split()))
    names = sorted(lines)
    signed = ";".join(names)
    scope = f"{timestamp[:8]}/auto/storage/goog4_request"
    params = {
        **query,
        "X-Goog-Algorithm": algorithm,
        "X-Goog-Credential": f"{authorizer}/{scope}",
        "X-Goog-Date": timestamp,
        "X-Goog-Expires": str(expires),
        "X-Goog-SignedHeaders": signed,
    }
    encoded = sorted(f"{_encode(k)}={_encode(v)}" for k, v in params.items())
    canonical_query = "&".join(encoded)
    payload = ",".join(lines["x-goog-content-sha256"]) if "x-goog-content-sha256" in lines else None
    text = "\n".join(
        [
            method,
            path,
            canonical_query,
            "".join(f"{name}:{','.join(lines[name])}\n" for name in names),
            signed,
            payload or "UNSIGNED-PAYLOAD",
        ]
    )
    return text, canonical_query


def string_to_sign(algorithm: str, timestamp: str, canonical: str) -> str:
    scope = f"{timestamp[:8]}/auto/storage/goog4_request"
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{algorithm}\n{timestamp}\n{scope}\n{digest}"


def hmac_signature(secret: str, timestamp: str, message: str | bytes) -> str:
    """The hex ``GOOG4-HMAC-SHA256`` signature of *message* (a string to sign or a policy)."""
    key = ("GOOG4" + secret).encode("utf-8")
    for part in (timestamp[:8], "auto", "storage", "goog4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    data = message.encode("utf-8") if isinstance(message, str) else message
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def object_path(bucket: str, name: str | None) -> str:
    """``/BUCKET/NAME`` with the name percent-encoded, slashes kept."""
    if name is None:
        return f"/{bucket}"
    return f"/{bucket}/" + quote(name.encode("utf-8"), safe="/~")
