"""A fast SigV4 query-string presigner.

It produces exactly the URL botocore's ``S3SigV4QueryAuth`` produces for the
same clock, credentials and request (same query order, same encoding, same
signature), at a fraction of the cost: the signing key is derived once per
day (per secret), the ``Host`` value is cached per URL authority, and no
request object, event hook or endpoint resolution runs per URL.

It signs; it does not resolve endpoints. The caller passes the request URL
with its path already percent-encoded (see :func:`object_url`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import string
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol, final
from urllib.parse import urlsplit

__all__ = [
    "MAX_EXPIRES",
    "FrozenCredentials",
    "SigV4Presigner",
    "SnapshotCache",
    "StaticCredentials",
    "object_url",
]

#: SigV4 presigned URLs live at most seven days.
MAX_EXPIRES: Final = 7 * 24 * 3600

_ALGORITHM: Final = "AWS4-HMAC-SHA256"
_UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
_SAFE: Final = "-._~"  # botocore.utils.SAFE_CHARS
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Headers botocore never signs (botocore.auth.SIGNED_HEADERS_BLACKLIST).
_UNSIGNED_HEADERS: Final = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
#: A ``Content-Type`` botocore's query signer leaves out of the signature
#: (``SigV4QueryAuth._modify_request_before_signing``): it takes this exact
#: value, compared as given, for the one it adds to form-encoded API calls.
_UNSIGNED_CONTENT_TYPE: Final = "application/x-www-form-urlencoded; charset=utf-8"


class FrozenCredentials(Protocol):
    """A consistent snapshot of AWS credentials (botocore's ``ReadOnlyCredentials`` fits)."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def token(self) -> str | None: ...


@final
class StaticCredentials:
    """Fixed credentials; the repr shows neither the secret nor the token."""

    __slots__ = ("access_key", "secret_key", "token")

    def __init__(self, access_key: str, secret_key: str, token: str | None = None) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token

    def __repr__(self) -> str:
        return "StaticCredentials(access_key='[REDACTED]', secret_key='[REDACTED]')"


#: Returns current credentials; called once per URL, so refreshable sources
#: (botocore's ``RefreshableCredentials.get_frozen_credentials``) stay fresh.
CredentialSource = Callable[[], FrozenCredentials]


@final
class SnapshotCache:
    """Reuse a credentials snapshot for at most *max_age* seconds.

    botocore's refreshable credentials take several microseconds to hand out
    a snapshot (they check their expiry under a lock), as long as signing a
    URL. botocore refreshes them while at least ten minutes of validity
    remain, so a snapshot a few seconds old is still valid for minutes.
    """

    __slots__ = ("_max_age", "_snapshot", "_source")

    def __init__(self, source: CredentialSource, *, max_age: float = 5.0) -> None:
        self._source = source
        self._max_age = max_age
        self._snapshot: tuple[float, FrozenCredentials | None] = (-math.inf, None)

    def __call__(self) -> FrozenCredentials:
        taken_at, snapshot = self._snapshot
        now = time.monotonic()
        if snapshot is None or now - taken_at > self._max_age:
            snapshot = self._source()
            self._snapshot = (now, snapshot)
        return snapshot

    def __repr__(self) -> str:
        return f"SnapshotCache(max_age={self._max_age!r})"


def _quote_table(safe: str) -> tuple[str, ...]:
    """A ``str.translate`` table doing what ``urllib.parse.quote(safe=...)`` does
    to a string of bytes decoded as latin-1 (so every ordinal is below 256)."""
    keep = set(string.ascii_letters + string.digits + "_.-~" + safe)
    return tuple(chr(b) if chr(b) in keep else f"%{b:02X}" for b in range(256))


# str.translate runs in C: several times faster than urllib.parse.quote, same output.
_QUERY_TABLE: Final = _quote_table(_SAFE)  # botocore.utils.percent_encode
_PATH_TABLE: Final = _quote_table("/~")  # botocore's encoding of an S3 key
_PLAIN_QUERY: Final = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
_PLAIN_PATH: Final = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch


def _encode(value: str, table: tuple[str, ...] = _QUERY_TABLE) -> str:
    """Percent-encode *value*'s UTF-8 bytes."""
    if not value.isascii():
        value = value.encode("utf-8").decode("latin-1")
    return value.translate(table)


def _encode_query(value: str) -> str:
    return value if _PLAIN_QUERY(value) else _encode(value)


def object_url(base_url: str, key: str) -> str:
    """``base_url`` (ending in ``/``) joined with *key* encoded as botocore encodes it."""
    return base_url + (key if _PLAIN_PATH(key) else _encode(key, _PATH_TABLE))


def _host(url: str) -> tuple[str, str]:
    """``(path, host header)`` of *url*, as botocore derives the host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return parts.path or "/", host


@final
class SigV4Presigner:
    """Presign requests with AWS Signature Version 4 query parameters.

    ``credentials`` is either fixed credentials or a zero-argument callable
    returning a fresh snapshot (called once per URL). Thread-safe: the only
    shared state are caches replaced atomically.
    """

    __slots__ = (
        "_credentials",
        "_date_cache",
        "_headers_cache",
        "_key_cache",
        "_region",
        "_scope_cache",
        "_service",
        "_url_cache",
    )

    def __init__(
        self,
        credentials: FrozenCredentials | CredentialSource,
        *,
        region: str,
        service: str = "s3",
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        # (secret, datestamp) -> signing key; one entry, swapped atomically.
        self._key_cache: tuple[str, str, bytes] = ("", "", b"")
        # url prefix -> (path, host); bounded by the few base URLs an adapter uses.
        self._url_cache: dict[str, tuple[str, str]] = {}
        # (seconds since epoch, X-Amz-Date) of the last signature.
        self._date_cache: tuple[int, str] = (-1, "")
        # (access key, token, datestamp) -> (scope, encoded credential, encoded token).
        self._scope_cache: tuple[tuple[str, str | None, str], tuple[str, str, str | None]] = (
            ("", None, ""),
            ("", "", None),
        )
        # signed header list -> its encoding in the query.
        self._headers_cache: dict[str, str] = {}

    @property
    def region(self) -> str:
        """The region the signature is scoped to."""
        return self._region

    @property
    def service(self) -> str:
        """The service name the signature is scoped to (``s3``)."""
        return self._service

    def __repr__(self) -> str:
        return f"SigV4Presigner(region={self._region!r}, service={self._service!r})"

    def _snapshot(self) -> FrozenCredentials:
        source = self._credentials
        return source() if callable(source) else source

    def _signing_key(self, secret: str, datestamp: str) -> bytes:
        cached_secret, cached_date, key = self._key_cache
        if cached_date == datestamp and cached_secret == secret:
            return key
        key = hmac.digest(("AWS4" + secret).encode("utf-8"), datestamp.encode(), "sha256")
        for part in (self._region, self._service, "aws4_request"):
            key = hmac.digest(key, part.encode("utf-8"), "sha256")
        self._key_cache = (secret, datestamp, key)
        return key

    def _scope(self, creds: FrozenCredentials, datestamp: str) -> tuple[str, str, str | None]:
        """``(scope, encoded X-Amz-Credential, encoded token)``, cached per day and key."""
        cache_key = (creds.access_key, creds.token, datestamp)
        cached_key, value = self._scope_cache
        if cached_key != cache_key:
            scope = f"{datestamp}/{self._region}/{self._service}/aws4_request"
            token = None if creds.token is None else _encode(creds.token)
            value = (scope, _encode(f"{creds.access_key}/{scope}"), token)
            self._scope_cache = (cache_key, value)
        return value

    def _amz_date(self, now: dt.datetime | None) -> str:
        if now is None:
            now = dt.datetime.now(dt.UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)  # naive means UTC, as in botocore
        second = int(now.timestamp())
        cached_second, amz_date = self._date_cache
        if cached_second != second:
            amz_date = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            self._date_cache = (second, amz_date)
        return amz_date

    def _split(self, url: str) -> tuple[str, str]:
        # Cache by authority: the path is cheap, host parsing is not.
        scheme_end = url.find("://") + 3
        slash = url.find("/", scheme_end)
        authority = url if slash < 0 else url[:slash]
        cached = self._url_cache.get(authority)
        if cached is None:
            cached = _host(authority + "/")
            if len(self._url_cache) < 64:
                self._url_cache[authority] = cached
        path = "/" if slash < 0 else url[slash:]
        return path, cached[1]

    def presign(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] = (),
        expires_in: int = 3600,
        now: dt.datetime | None = None,
    ) -> str:
        """Return *url* with SigV4 query authentication added.

        *url* has no query and its path is already percent-encoded. *headers*
        are bound into the signature (the client must send exactly these),
        except those botocore leaves out: hop-by-hop and tracing headers, and
        a ``Content-Type`` of exactly ``application/x-www-form-urlencoded;
        charset=utf-8``;
        *params* are operation query parameters (``uploadId``…), unencoded,
        placed before the authentication parameters as botocore does. *now*
        defaults to the current UTC time.
        """
        if not 1 <= expires_in <= MAX_EXPIRES:
            raise ValueError(f"expires_in must be between 1 and {MAX_EXPIRES} seconds")
        if "?" in url:
            raise ValueError("url must not carry a query string; pass params instead")
        creds = self._snapshot()
        amz_date = self._amz_date(now)
        datestamp = amz_date[:8]
        path, host = self._split(url)

        if headers:
            signed: dict[str, str] = {"host": host}
            for name, value in headers.items():
                lname = name.lower()
                if lname in _UNSIGNED_HEADERS or (
                    lname == "content-type" and value == _UNSIGNED_CONTENT_TYPE
                ):
                    continue
                if lname in signed:
                    raise ValueError(f"header {name!r} given twice")
                signed[lname] = " ".join(value.split())
            names = sorted(signed)
            signed_headers = ";".join(names)
            canonical_headers = "".join([f"{n}:{signed[n]}\n" for n in names])
        else:
            signed_headers, canonical_headers = "host", f"host:{host}\n"
        encoded_headers = self._headers_cache.get(signed_headers)
        if encoded_headers is None:
            encoded_headers = _encode(signed_headers)
            if len(self._headers_cache) < 64:
                self._headers_cache[signed_headers] = encoded_headers

        scope, credential, token = self._scope(creds, datestamp)
        query = [(_encode_query(k), _encode_query(v)) for k, v in params]
        operation_query = "".join([f"{k}={v}&" for k, v in query])
        auth = [
            ("X-Amz-Algorithm", _ALGORITHM),
            ("X-Amz-Credential", credential),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", str(expires_in)),
            ("X-Amz-SignedHeaders", encoded_headers),
        ]
        if token is not None:
            auth.append(("X-Amz-Security-Token", token))
        auth_query = "&".join([f"{k}={v}" for k, v in auth])
        if query or token is not None:  # else auth is already in canonical order
            query.extend(auth)
            canonical_query = "&".join([f"{k}={v}" for k, v in sorted(query)])
        else:
            canonical_query = auth_query
        canonical_request = (
            f"{method.upper()}\n{path}\n{canonical_query}\n{canonical_headers}\n"
            f"{signed_headers}\n{_UNSIGNED_PAYLOAD}"
        )
        string_to_sign = (
            f"{_ALGORITHM}\n{amz_date}\n{scope}\n"
            + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
        )
        signature = hmac.digest(
            self._signing_key(creds.secret_key, datestamp),
            string_to_sign.encode("utf-8"),
            "sha256",
        ).hex()
        return f"{url}?{operation_query}{auth_query}&X-Amz-Signature={signature}"
