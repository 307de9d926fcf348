"""V4 signed URLs (``GOOG4-RSA-SHA256``) for the GCS XML API.

The canonical request is built exactly as google-cloud-storage's
``generate_signed_url(version="v4")`` builds it (the tests check identity
byte for byte), but without constructing ``Blob`` objects per URL. The RSA
signature itself comes from a :class:`BlobSigner`: a service-account key
(:class:`KeySigner`) or, when the credentials hold no key, the IAM
``signBlob`` API (:class:`IAMSigner`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from rindle_core import StorageError

if TYPE_CHECKING:
    from google.auth import iam

__all__ = [
    "MAX_EXPIRES_IN",
    "BlobSigner",
    "IAMSigner",
    "KeyCredentials",
    "KeySigner",
    "RefreshableCredentials",
    "V4Signer",
]

#: GCS rejects V4 signatures valid for longer than seven days.
MAX_EXPIRES_IN: Final = 7 * 24 * 3600

_ALGORITHM: Final = "GOOG4-RSA-SHA256"


@runtime_checkable
class BlobSigner(Protocol):
    """Something that RSA-signs bytes on behalf of a service account."""

    @property
    def email(self) -> str:
        """The service account's e-mail (part of ``X-Goog-Credential``)."""
        ...

    def sign(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 / SHA-256 signature of *message*."""
        ...


class KeyCredentials(Protocol):
    """Credentials holding a private key (``google.auth.credentials.Signing``)."""

    @property
    def signer_email(self) -> str: ...

    def sign_bytes(self, message: bytes) -> bytes: ...


class RefreshableCredentials(Protocol):
    """Credentials that can fetch a token (``google.auth.credentials.Credentials``).

    Compute Engine credentials also learn their ``service_account_email`` on
    refresh.
    """

    def refresh(self, request: Callable[..., object]) -> None: ...


class KeySigner:
    """Signs locally with a service-account private key.

    *credentials* is any ``google.auth.credentials.Signing`` object (a
    ``service_account.Credentials`` loaded from a key file, typically).
    """

    def __init__(self, credentials: KeyCredentials) -> None:
        self._credentials = credentials

    @property
    def email(self) -> str:
        return str(self._credentials.signer_email)

    def sign(self, message: bytes) -> bytes:
        return bytes(self._credentials.sign_bytes(message))

    def __repr__(self) -> str:
        return f"KeySigner(email={self.email!r})"


class IAMSigner:
    """Signs through the IAM Credentials ``signBlob`` API.

    For credentials without a private key (Compute Engine, Cloud Run, GKE
    workload identity). Each signature is a network round trip, so keep it
    out of hot paths (see ``docs/storage/gcs.md``). Each request waits at
    most *timeout* (seconds, or ``(connect, read)``).
    """

    def __init__(
        self,
        credentials: RefreshableCredentials,
        *,
        email: str | None = None,
        timeout: float | tuple[float, float] = (5.0, 20.0),
    ) -> None:
        self._credentials = credentials
        self._email = email
        self._timeout = timeout
        self._lock = threading.Lock()
        self._signer: iam.Signer | None = None

    def _request(self) -> Callable[..., object]:
        from google.auth.transport.requests import Request

        return functools.partial(Request(), timeout=self._timeout)

    @property
    def email(self) -> str:
        with self._lock:
            return self._resolve_email()

    def _resolve_email(self) -> str:
        if self._email is None:
            email = getattr(self._credentials, "service_account_email", None)
            if email in (None, "default"):
                # Compute Engine credentials learn their e-mail on refresh.
                self._credentials.refresh(self._request())
                email = getattr(self._credentials, "service_account_email", None)
            if not email or email == "default":
                raise StorageError("GCS sign failed: the credentials name no service account")
            self._email = str(email)
        return self._email

    def sign(self, message: bytes) -> bytes:
        with self._lock:
            if self._signer is None:
                from google.auth import iam

                self._signer = iam.Signer(  # type: ignore[no-untyped-call]
                    self._request(), self._credentials, self._resolve_email()
                )
            signer = self._signer
        return bytes(signer.sign(message))

    def __repr__(self) -> str:
        return f"IAMSigner(email={self._email!r})"


def _quote_param(value: object) -> str:
    return quote(str(value), safe="~")


def _canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    merged: dict[str, list[str]] = {}
    for name, value in headers.items():
        merged.setdefault(name.lower().strip(), []).append(" ".join(value.split()))
    ordered = sorted((name, ",".join(values)) for name, values in merged.items())
    canonical = "".join(f"{name}:{value}\n" for name, value in ordered)
    return canonical, ";".join(name for name, _ in ordered)


class V4Signer:
    """Builds V4 signed URLs for objects of one bucket at one endpoint."""

    def __init__(self, signer: BlobSigner, *, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("endpoint must be an http(s) URL")
        self._signer = signer
        self._endpoint = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.netloc

    @property
    def email(self) -> str:
        """The signing service account."""
        return self._signer.email

    @property
    def endpoint(self) -> str:
        """Where signed requests go: ``scheme://host[:port]``."""
        return self._endpoint

    def sign_bytes(self, message: bytes) -> bytes:
        """The service account's RSA signature of *message* (a POST policy)."""
        return self._signer.sign(message)

    def sign_url(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        expires_in: int,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        now: dt.datetime,
    ) -> str:
        """A URL letting anyone send *method* for ``bucket/key`` with *headers*.

        *headers* (besides ``Host``) are bound into the signature: the
        client must send them with exactly these values. *query* adds signed
        query parameters (``response-content-type``, ``generation``…).
        """
        if not 0 < expires_in <= MAX_EXPIRES_IN:
            raise ValueError(f"expires_in must be within 1..{MAX_EXPIRES_IN} seconds")
        now = now.astimezone(dt.UTC)
        timestamp = now.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{now.strftime('%Y%m%d')}/auto/storage/goog4_request"
        resource = f"/{bucket}/{quote(key.encode('utf-8'), safe=b'/~')}"

        all_headers = dict(headers or {})
        if not any(name.lower() == "host" for name in all_headers):
            all_headers["Host"] = self._host
        canonical_headers, signed_headers = _canonical_headers(all_headers)

        params = {k: v or "" for k, v in (query or {}).items()}
        params |= {
            "X-Goog-Algorithm": _ALGORITHM,
            "X-Goog-Credential": f"{self._signer.email}/{scope}",
            "X-Goog-Date": timestamp,
            "X-Goog-Expires": str(expires_in),
            "X-Goog-SignedHeaders": signed_headers,
        }
        canonical_query = "&".join(
            sorted(f"{_quote_param(k)}={_quote_param(v)}" for k, v in params.items())
        )
        canonical_request = "\n".join(
            [
                method.upper(),
                resource,
                canonical_query,
                canonical_headers,
                signed_headers,
                "UNSIGNED-PAYLOAD",
            ]
        )
        string_to_sign = "\n".join(
            [
                _ALGORITHM,
                timestamp,
                scope,
                hashlib.sha256(canonical_request.encode("ascii")).hexdigest(),
            ]
        )
        signature = self._signer.sign(string_to_sign.encode("ascii")).hex()
        return f"{self._endpoint}{resource}?{canonical_query}&X-Goog-Signature={signature}"

    def __repr__(self) -> str:
        return f"V4Signer(endpoint={self._endpoint!r}, signer={self._signer!r})"
