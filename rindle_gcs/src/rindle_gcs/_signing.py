"""V4 signed URLs and POST policy signatures for the GCS XML API.

The canonical request is built exactly as google-cloud-storage's
``generate_signed_url(version="v4")`` builds it (the tests check identity
byte for byte, and Google's V4 conformance vectors), but without
constructing ``Blob`` objects per URL. The signature comes from either

* a :class:`BlobSigner` (``GOOG4-RSA-SHA256``): a service-account key
  (:class:`KeySigner`) or, when the credentials hold no key, the IAM
  ``signBlob`` API (:class:`IAMSigner`); or
* an :class:`HMACSigner` (``GOOG4-HMAC-SHA256``): a GCS HMAC key, signing
  locally with HMAC-SHA256 under a key derived once per day.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import string
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol, final, runtime_checkable
from urllib.parse import urlsplit

from rindle_core import StorageError

if TYPE_CHECKING:
    from google.auth import iam

__all__ = [
    "HMAC_ALGORITHM",
    "MAX_EXPIRES_IN",
    "RSA_ALGORITHM",
    "BlobSigner",
    "CanonicalRequest",
    "HMACSigner",
    "IAMSigner",
    "KeyCredentials",
    "KeySigner",
    "RefreshableCredentials",
    "V4Signer",
]

#: GCS rejects V4 signatures valid for longer than seven days.
MAX_EXPIRES_IN: Final = 7 * 24 * 3600

#: The algorithm of RSA signatures (a service-account key or IAM ``signBlob``).
RSA_ALGORITHM: Final = "GOOG4-RSA-SHA256"
#: The algorithm of HMAC-key signatures.
HMAC_ALGORITHM: Final = "GOOG4-HMAC-SHA256"
_UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
#: The signed header whose value is the payload's hash in the canonical request.
_CONTENT_SHA256: Final = "x-goog-content-sha256"
_AUTH_PARAMS: Final = frozenset(
    f"X-Goog-{name}" for name in ("Algorithm", "Credential", "Date", "Expires", "SignedHeaders")
)


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


@final
class HMACSigner:
    """Signs with a GCS HMAC key (``GOOG4-HMAC-SHA256``), locally.

    *access_id* names the key in ``X-Goog-Credential``; *secret* is the
    key's secret, used as its text. The signing key (HMAC-SHA256 chained
    over ``"GOOG4" + secret``, the date, ``auto``, ``storage`` and
    ``goog4_request``) is derived once per day. The repr never shows the
    secret.
    """

    __slots__ = ("_access_id", "_key_cache", "_secret")

    def __init__(self, access_id: str, secret: str) -> None:
        if not access_id or not secret:
            raise ValueError("an HMAC key needs an access id and a secret")
        self._access_id = access_id
        self._secret = secret
        # (datestamp, signing key): one entry, replaced atomically.
        self._key_cache: tuple[str, bytes] = ("", b"")

    @property
    def access_id(self) -> str:
        """The HMAC key's access id (part of ``X-Goog-Credential``)."""
        return self._access_id

    def signing_key(self, datestamp: str) -> bytes:
        """The key that signs everything dated *datestamp* (``YYYYMMDD``)."""
        cached_date, key = self._key_cache
        if cached_date != datestamp:
            key = hmac.digest(
                ("GOOG4" + self._secret).encode("utf-8"), datestamp.encode(), "sha256"
            )
            for part in (b"auto", b"storage", b"goog4_request"):
                key = hmac.digest(key, part, "sha256")
            self._key_cache = (datestamp, key)
        return key

    def sign(self, message: bytes, datestamp: str) -> bytes:
        """HMAC-SHA256 of *message* under the signing key of *datestamp*."""
        return hmac.digest(self.signing_key(datestamp), message, "sha256")

    def __repr__(self) -> str:
        return f"HMACSigner(access_id={self._access_id!r})"


def _quote_table(safe: str) -> tuple[str, ...]:
    """A ``str.translate`` table doing what ``urllib.parse.quote(safe=...)`` does
    to a string of bytes decoded as latin-1 (every ordinal below 256)."""
    keep = set(string.ascii_letters + string.digits + "_.-~" + safe)
    return tuple(chr(b) if chr(b) in keep else f"%{b:02X}" for b in range(256))


# str.translate runs in C: several times faster than urllib.parse.quote, same output
# (the tests compare them on random text).
_QUERY_TABLE: Final = _quote_table("")  # quote(safe="~"), the SDK's query encoding
_PATH_TABLE: Final = _quote_table("/")  # quote(safe=b"/~"), the SDK's object names
_PLAIN_QUERY: Final = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
_PLAIN_PATH: Final = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch


def _encode(value: str, table: tuple[str, ...] = _QUERY_TABLE) -> str:
    """Percent-encode *value*'s UTF-8 bytes."""
    if not value.isascii():
        value = value.encode("utf-8").decode("latin-1")
    return value.translate(table)


def _quote_param(value: object) -> str:
    text = str(value)
    return text if _PLAIN_QUERY(text) else _encode(text)


def _quote_key(key: str) -> str:
    return key if _PLAIN_PATH(key) else _encode(key, _PATH_TABLE)


def _canonical_headers(headers: Mapping[str, str], host: str) -> tuple[str, str, str]:
    """``(canonical headers, signed header names, payload)`` as the SDK makes them.

    ``Host`` is *host* unless *headers* name one. The payload is the value
    of a signed ``x-goog-content-sha256``, else ``UNSIGNED-PAYLOAD``.
    """
    merged: dict[str, str] = {}
    has_host = False
    for name, value in headers.items():
        lowered = name.lower()
        has_host = has_host or lowered == "host"
        lowered = lowered.strip()
        value = " ".join(value.split())
        merged[lowered] = f"{merged[lowered]},{value}" if lowered in merged else value
    if not has_host:
        merged["host"] = f"{merged['host']},{host}" if "host" in merged else host
    names = sorted(merged)
    canonical = "".join([f"{name}:{merged[name]}\n" for name in names])
    return canonical, ";".join(names), merged.get(_CONTENT_SHA256, _UNSIGNED_PAYLOAD)


class CanonicalRequest(NamedTuple):
    """What a V4 signature covers, and the URL it is appended to."""

    #: The signed URL without ``&X-Goog-Signature=…``.
    url: str
    canonical_request: str
    string_to_sign: str
    #: ``YYYYMMDD`` of the signature (an HMAC signing key's date).
    datestamp: str


class V4Signer:
    """Builds V4 signed URLs for objects at one endpoint.

    *endpoint* is ``scheme://host[:port][/path]``. A path prefix is kept in
    the URLs (``http://host:4443/storage/BUCKET/KEY``) but, as
    google-cloud-storage signs it, not in the signed resource
    (``/BUCKET/KEY``): whatever serves the prefix forwards the rest to GCS.
    """

    def __init__(self, signer: BlobSigner | HMACSigner, *, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("endpoint must be an http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("endpoint must have no query")
        self._signer = signer
        self._endpoint = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._host = parts.netloc
        self._algorithm = HMAC_ALGORITHM if isinstance(signer, HMACSigner) else RSA_ALGORITHM
        # Caches, each replaced atomically: (second, X-Goog-Date, scope) of the
        # last signature; (authorizer, scope, encoded credential); the encoding
        # of each signed-header list (bounded: an adapter signs a few shapes).
        self._date_cache: tuple[int, str, str] = (-1, "", "")
        self._credential_cache: tuple[str, str, str] = ("", "", "")
        self._headers_cache: dict[str, str] = {}

    @property
    def algorithm(self) -> str:
        """``GOOG4-RSA-SHA256`` or ``GOOG4-HMAC-SHA256``."""
        return self._algorithm

    @property
    def email(self) -> str:
        """Who signs: the service account's e-mail, or the HMAC key's access id."""
        signer = self._signer
        return signer.access_id if isinstance(signer, HMACSigner) else signer.email

    @property
    def endpoint(self) -> str:
        """Where signed requests go: ``scheme://host[:port][/path]``."""
        return self._endpoint

    def sign(self, message: bytes, datestamp: str) -> str:
        """The hex signature of *message* (a string to sign, or a POST policy)."""
        signer = self._signer
        if isinstance(signer, HMACSigner):
            return signer.sign(message, datestamp).hex()
        return signer.sign(message).hex()

    def canonical(
        self,
        method: str,
        bucket: str,
        key: str | None,
        *,
        expires_in: int,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        now: dt.datetime,
    ) -> CanonicalRequest:
        """The canonical request and string to sign of :meth:`sign_url` (nothing is signed).

        *key* ``None`` addresses the bucket itself (``/BUCKET``).
        """
        if not 0 < expires_in <= MAX_EXPIRES_IN:
            raise ValueError(f"expires_in must be within 1..{MAX_EXPIRES_IN} seconds")
        timestamp, scope = self._dates(now)
        resource = f"/{bucket}" if key is None else f"/{bucket}/{_quote_key(key)}"
        canonical_headers, signed_headers, payload = _canonical_headers(headers or {}, self._host)

        encoded_headers = self._headers_cache.get(signed_headers)
        if encoded_headers is None:
            encoded_headers = _quote_param(signed_headers)
            if len(self._headers_cache) < 64:
                self._headers_cache[signed_headers] = encoded_headers
        auth = [
            f"X-Goog-Algorithm={self._algorithm}",
            f"X-Goog-Credential={self._credential(scope)}",
            f"X-Goog-Date={timestamp}",
            f"X-Goog-Expires={expires_in}",
            f"X-Goog-SignedHeaders={encoded_headers}",
        ]
        if query:
            # The SDK's order: every "name=value", sorted; a query parameter
            # named like an authentication one is replaced by it.
            pairs = [
                f"{_quote_param(k)}={_quote_param(v or '')}"
                for k, v in query.items()
                if k not in _AUTH_PARAMS
            ]
            canonical_query = "&".join(sorted(pairs + auth))
        else:
            canonical_query = "&".join(auth)  # already in sorted order
        canonical_request = (
            f"{method.upper()}\n{resource}\n{canonical_query}\n{canonical_headers}\n"
            f"{signed_headers}\n{payload}"
        )
        digest = hashlib.sha256(canonical_request.encode("ascii")).hexdigest()
        return CanonicalRequest(
            url=f"{self._endpoint}{resource}?{canonical_query}",
            canonical_request=canonical_request,
            string_to_sign=f"{self._algorithm}\n{timestamp}\n{scope}\n{digest}",
            datestamp=timestamp[:8],
        )

    def _dates(self, now: dt.datetime) -> tuple[str, str]:
        """``(X-Goog-Date, credential scope)`` of *now* (a naive one is local time)."""
        second = int(now.timestamp())
        cached_second, timestamp, scope = self._date_cache
        if cached_second != second:
            timestamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            scope = f"{timestamp[:8]}/auto/storage/goog4_request"
            self._date_cache = (second, timestamp, scope)
        return timestamp, scope

    def _credential(self, scope: str) -> str:
        """``X-Goog-Credential``, encoded, cached per authorizer and day."""
        email = self.email
        cached_email, cached_scope, credential = self._credential_cache
        if cached_email != email or cached_scope != scope:
            credential = _quote_param(f"{email}/{scope}")
            self._credential_cache = (email, scope, credential)
        return credential

    def sign_url(
        self,
        method: str,
        bucket: str,
        key: str | None,
        *,
        expires_in: int,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        now: dt.datetime,
    ) -> str:
        """A URL letting anyone send *method* for ``bucket/key`` with *headers*.

        *headers* (besides ``Host``) are bound into the signature: the
        client must send them with exactly these values; a bound
        ``x-goog-content-sha256`` is the payload's hash in the canonical
        request, so only that body is accepted. *query* adds signed query
        parameters (``response-content-type``, ``generation``…).
        """
        request = self.canonical(
            method, bucket, key, expires_in=expires_in, headers=headers, query=query, now=now
        )
        signature = self.sign(request.string_to_sign.encode("ascii"), request.datestamp)
        return f"{request.url}&X-Goog-Signature={signature}"

    def __repr__(self) -> str:
        return f"V4Signer(endpoint={self._endpoint!r}, signer={self._signer!r})"
