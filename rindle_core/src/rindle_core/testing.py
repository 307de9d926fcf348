"""Test helpers for rindle users and storage-plugin authors (needs pytest).

The storage-adapter contract suite checks the behaviour the broker relies on,
against a real server the plugin's own tests start::

    import pytest
    from rindle_core.testing import StorageAdapterContract

    class TestMyStorageContract(StorageAdapterContract):
        checks_signatures = True        # the server verifies signatures

        @pytest.fixture
        def adapter(self, my_server):
            return MyStorage(endpoint_url=my_server.url, bucket="contract")

The suite holds every adapter to rindle's guarantee: a signed upload is
create-only (a second PUT with the same URL, a fresh URL for an existing key
and a multipart complete onto an existing object are refused and change
nothing), an expired URL is refused, ``head`` reports a version that changes
when the object is replaced and ``read_range(..., version=)`` refuses a stale
one, ``presign_get`` serves the type and disposition it was given, and a
missing bucket is never a missing object (override ``missing_bucket_adapter``).
Where an emulator cannot enforce a rule, set its flag False
(``enforces_create_only``, ``enforces_expiry``, ``sets_response_headers``,
``binds_content_headers``) and prove the rule by signature identity with the
cloud SDK in the plugin's own tests. rindle's own plugins: moto (S3) and
Azurite enforce everything but Azure's header binding (a SAS cannot bind
headers); neither GCS emulator enforces ``x-goog-if-generation-match`` on a
signed PUT or serves ``response-content-type``.

An emulator that accepts any signature (moto, the GCS emulators) can be put
behind a :class:`CheckingFront`, which refuses the signed requests the real
service would refuse (you supply the check) and forwards the rest.

Tests of a capability the adapter does not declare are skipped with a
reason (``pytest -ra`` lists them); one test checks that the methods of
undeclared capabilities raise :class:`NotImplementedError`. Every key is
unique, so the suite is safe under ``pytest-xdist``. For pytest's detailed
assertion messages inside these tests, call
``pytest.register_assert_rewrite("rindle_core.testing")`` in your
``conftest.py`` before importing this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar, Final
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from rindle_core._checking_front import CheckingFront
from rindle_core._errors import (
    RindleError,
    StorageConflict,
    StorageError,
    StorageNotFound,
    TransferFailed,
)
from rindle_core.client import UploadClient
from rindle_core.storage import (
    Capability,
    HeadResult,
    PresignedRequest,
    StorageAdapter,
    UploadedPart,
)

__all__ = [
    "CheckingFront",
    "StorageAdapterContract",
    "assert_no_secrets",
    "payload",
    "secret_query_values",
    "unique_key",
]


# =============================================================================
# Helpers
# =============================================================================


def unique_key(prefix: str = "rindle-contract") -> str:
    """A storage key no other test (or xdist worker) uses."""
    return f"{prefix}/{uuid.uuid4().hex}/object.bin"


def payload(size: int, *, seed: int | None = None) -> bytes:
    """*size* pseudo-random bytes (reproducible when *seed* is given)."""
    return random.Random(seed).randbytes(size)


_CREDENTIAL_LOOKING: Final = (
    re.compile(
        r"(?i)\b(x-amz-signature|x-goog-signature|x-amz-credential|x-amz-security-token"
        r"|signature|sig|accountkey|sharedaccesssignature|client_secret|private_key)"
        r"=[^\s&'\",)\[*<]"  # a value follows: not "[REDACTED]", "***" or "<hidden>"
    ),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)


def secret_query_values(request: PresignedRequest, *, min_length: int = 16) -> list[str]:
    """The query values of *request*'s URL that must never be shown.

    Values at least *min_length* long that are not also public parts of the
    request (its headers, upload id, or path) are treated as secret:
    signatures, credentials and tokens are always long.
    """
    parts = urlsplit(request.url)
    public = {*request.headers.values(), request.upload_id or "", parts.path}
    return [
        value
        for _, value in parse_qsl(parts.query, keep_blank_values=True)
        if len(value) >= min_length and value not in public
    ]


def assert_no_secrets(text: str, secrets: Iterable[str], *, what: str = "text") -> None:
    """Fail if *text* shows any of *secrets* or anything credential-looking."""
    for secret in secrets:
        if secret and secret in text:
            pytest.fail(f"{what} shows a secret value ({len(secret)} characters)", pytrace=False)
    for pattern in _CREDENTIAL_LOOKING:
        match = pattern.search(text)
        if match:
            pytest.fail(f"{what} shows something credential-looking: {match.group(0)[:24]!r}…")


_MISSING: Final = object()
_PROTOCOL_MEMBERS: Final = (
    "backend",
    "capabilities",
    *sorted(
        name
        for name, value in vars(StorageAdapter).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    ),
)


def _check(condition: bool, message: str) -> None:
    if not condition:
        pytest.fail(message, pytrace=False)


# =============================================================================
# The storage-adapter contract suite
# =============================================================================


class StorageAdapterContract:
    """The behaviour every storage adapter must show; subclass it as ``Test…``.

    Override the ``adapter`` fixture (required); optionally ``http_client``
    (an :class:`httpx.Client`, e.g. to trust a test CA) and
    ``adapter_secrets`` (credential strings that must never be shown). Set
    ``checks_signatures = True`` when the server verifies signatures, which
    enables the tamper / wrong content type / wrong length tests.
    """

    #: Whether the server refuses requests that break their signature.
    checks_signatures: ClassVar[bool] = False
    #: Whether presigned PUTs bind Content-Type and Content-Length (so the
    #: server refuses others). ``None`` means "same as checks_signatures";
    #: set it False for backends whose tokens cannot bind headers (Azure SAS).
    binds_content_headers: ClassVar[bool | None] = None
    #: Whether the server refuses a signed upload to a key that already holds
    #: an object. Set it False only for an emulator that cannot enforce the
    #: create-only condition, and prove the condition is signed by identity
    #: with the cloud SDK in the plugin's own tests instead.
    enforces_create_only: ClassVar[bool] = True
    #: Whether the server refuses an expired URL (``None``: same as
    #: ``checks_signatures``).
    enforces_expiry: ClassVar[bool | None] = None
    #: Whether ``presign_get`` can set the served Content-Type and
    #: Content-Disposition (response-header overrides in the URL).
    sets_response_headers: ClassVar[bool] = True
    #: The content type uploads are signed for, and another one.
    content_type: ClassVar[str] = "application/pdf"
    other_content_type: ClassVar[str] = "image/png"
    #: Lifetime of every URL the suite signs, in seconds.
    expires_in: ClassVar[int] = 600
    #: Prefix of every key the suite writes.
    key_prefix: ClassVar[str] = "rindle-contract"

    # -- fixtures to override ---------------------------------------------------

    @pytest.fixture
    def adapter(self) -> StorageAdapter:
        """The adapter under test, talking to a real server."""
        pytest.fail(f"{type(self).__name__} must override the `adapter` fixture", pytrace=False)

    @pytest.fixture
    def http_client(self) -> Iterator[httpx.Client]:
        """The HTTP client that uploads and downloads like a browser would."""
        with httpx.Client(timeout=60.0, follow_redirects=False) as client:
            yield client

    @pytest.fixture
    def missing_bucket_adapter(self) -> StorageAdapter:
        """An adapter like ``adapter`` whose bucket / container does not exist."""
        pytest.fail(
            f"{type(self).__name__} must override the `missing_bucket_adapter` fixture",
            pytrace=False,
        )

    @pytest.fixture
    def adapter_secrets(self) -> list[str]:
        """Credential strings of the adapter that must never be shown."""
        return []

    @pytest.fixture
    def upload_client(self, http_client: httpx.Client) -> UploadClient:
        """:class:`UploadClient` on top of ``http_client``."""
        return UploadClient(http=http_client)

    # -- helpers ----------------------------------------------------------------

    def key(self) -> str:
        """A fresh key under :attr:`key_prefix`."""
        return unique_key(self.key_prefix)

    @staticmethod
    def require(adapter: StorageAdapter, *capabilities: Capability) -> None:
        """Skip the test unless *adapter* declares every capability."""
        missing = [c.value for c in capabilities if c not in adapter.capabilities]
        if missing:
            pytest.skip(f"{adapter.backend} does not declare {', '.join(missing)}")

    def store(
        self,
        adapter: StorageAdapter,
        client: UploadClient,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
    ) -> None:
        """Upload *data* under *key* the way a client would (presigned PUT)."""
        self.require(adapter, Capability.PRESIGNED_PUT)
        request = adapter.presign_put(
            key,
            content_type=content_type or self.content_type,
            content_length=len(data),
            expires_in=self.expires_in,
        )
        client.put_bytes(request, data)

    # -- identity and capabilities ------------------------------------------------

    def test_backend_is_a_non_empty_string(self, adapter: StorageAdapter) -> None:
        _check(isinstance(adapter.backend, str) and bool(adapter.backend), "backend: empty name")

    def test_capabilities_are_a_frozenset_of_capability(self, adapter: StorageAdapter) -> None:
        caps = adapter.capabilities
        _check(isinstance(caps, frozenset), f"capabilities is a {type(caps).__name__}")
        _check(all(isinstance(c, Capability) for c in caps), "capabilities holds non-Capability")
        _check(bool(caps), "an adapter must declare at least one capability")

    def test_adapter_has_every_protocol_member(self, adapter: StorageAdapter) -> None:
        # Not isinstance(): on Python 3.11 it evaluates properties, and an
        # adapter without multipart rightly raises from ``part_limits``.
        missing = [
            name
            for name in _PROTOCOL_MEMBERS
            if inspect.getattr_static(adapter, name, _MISSING) is _MISSING
        ]
        _check(not missing, f"the adapter lacks StorageAdapter members: {', '.join(missing)}")

    def test_undeclared_capabilities_raise_not_implemented(self, adapter: StorageAdapter) -> None:
        key = self.key()
        calls: dict[Capability, Callable[[], object]] = {
            Capability.PRESIGNED_PUT: lambda: adapter.presign_put(
                key, content_type=self.content_type, content_length=1, expires_in=60
            ),
            Capability.MULTIPART_UPLOAD: lambda: adapter.create_multipart(
                key, content_type=self.content_type
            ),
            Capability.RESUMABLE_UPLOAD: lambda: adapter.create_resumable(
                key, content_type=self.content_type, size=1, origin=None
            ),
            Capability.RESUMABLE_STATUS: lambda: adapter.resumable_status(
                key, "http://127.0.0.1:9/rindle-contract-unused"
            ),
            Capability.HEAD: lambda: adapter.head(key),
            Capability.RANGE_READ: lambda: adapter.read_range(key, 0, 1),
            Capability.DELETE: lambda: adapter.delete(key),
            Capability.SIGNED_GET: lambda: adapter.presign_get(key, expires_in=60),
            Capability.COMMITTED_PARTS: lambda: adapter.committed_parts(key),
        }
        if Capability.MULTIPART_UPLOAD not in adapter.capabilities:
            with pytest.raises(NotImplementedError):
                _ = adapter.part_limits
        for capability, call in calls.items():
            if capability in adapter.capabilities:
                continue
            with pytest.raises(NotImplementedError):
                call()

    # -- presigned PUT --------------------------------------------------------------

    def test_presign_put_describes_a_bound_request(self, adapter: StorageAdapter) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT)
        before = dt.datetime.now(dt.UTC)
        request = adapter.presign_put(
            self.key(), content_type=self.content_type, content_length=10, expires_in=300
        )
        _check(request.method == "PUT", f"method is {request.method!r}")
        _check(urlsplit(request.url).scheme in ("http", "https"), "the URL is not http(s)")
        headers = {k.lower(): v for k, v in request.headers.items()}
        _check(
            headers.get("content-type") == self.content_type,
            "the request's headers must carry the signed Content-Type",
        )
        expires_at = request.expires_at
        _check(expires_at is not None and expires_at.tzinfo is not None, "expires_at not aware")
        assert expires_at is not None
        _check(before < expires_at <= before + dt.timedelta(seconds=300 + 60), "bad expires_at")

    def test_presigned_put_then_head(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key, data = self.key(), payload(1000, seed=1)
        self.store(adapter, upload_client, key, data)
        head = adapter.head(key)
        _check(isinstance(head, HeadResult), "head must return a HeadResult")
        _check(head.size == len(data), f"head.size is {head.size}, expected {len(data)}")
        _check(head.content_type == self.content_type, f"content_type is {head.content_type!r}")

    def test_empty_object_roundtrip(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key = self.key()
        self.store(adapter, upload_client, key, b"")
        _check(adapter.head(key).size == 0, "an empty upload must give a zero-byte object")

    # -- create-only, versions, expiry ----------------------------------------------

    def test_second_put_with_the_same_url_is_refused(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        self._require_create_only()
        key, first = self.key(), payload(100, seed=2)
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=len(first), expires_in=600
        )
        upload_client.put_bytes(request, first)
        before = adapter.head(key)
        self._assert_refused(
            upload_client, request, payload(100, seed=3), secret_query_values(request)
        )
        self._assert_unchanged(adapter, key, before, first)

    def test_fresh_url_for_an_existing_key_is_refused(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        self._require_create_only()
        key, first = self.key(), payload(64, seed=20)
        self.store(adapter, upload_client, key, first)
        before = adapter.head(key)
        again = adapter.presign_put(
            key, content_type=self.content_type, content_length=64, expires_in=600
        )
        self._assert_refused(upload_client, again, payload(64, seed=21), secret_query_values(again))
        self._assert_unchanged(adapter, key, before, first)

    def test_expired_url_is_refused(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        enforces = self.enforces_expiry
        if not (self.checks_signatures if enforces is None else enforces):
            pytest.skip("the server does not check URL expiry (enforces_expiry = False)")
        key = self.key()
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=4, expires_in=1
        )
        time.sleep(2.5)
        self._assert_refused(upload_client, request, b"late", secret_query_values(request))
        with pytest.raises(StorageNotFound):
            adapter.head(key)

    def test_head_reports_a_version_that_changes_on_replacement(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD, Capability.DELETE)
        key = self.key()
        self.store(adapter, upload_client, key, payload(50, seed=22))
        first = adapter.head(key).version
        _check(bool(first), "head must report a version (the object's fingerprint)")
        _check(adapter.head(key).version == first, "the version of an unchanged object moved")
        adapter.delete(key)
        self.store(adapter, upload_client, key, payload(50, seed=23))
        _check(adapter.head(key).version != first, "a replaced object kept its version")

    def test_read_range_bound_to_a_stale_version_is_refused(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.RANGE_READ, Capability.DELETE)
        self.require(adapter, Capability.HEAD)
        key, data = self.key(), payload(40, seed=24)
        self.store(adapter, upload_client, key, payload(40, seed=25))
        stale = adapter.head(key).version
        adapter.delete(key)
        self.store(adapter, upload_client, key, data)
        current = adapter.head(key).version
        _check(adapter.read_range(key, 0, 40, version=current) == data, "bound read differs")
        with pytest.raises(StorageConflict):
            adapter.read_range(key, 0, 40, version=stale)

    def test_missing_bucket_is_not_a_missing_object(
        self, missing_bucket_adapter: StorageAdapter
    ) -> None:
        adapter, key = missing_bucket_adapter, self.key()
        calls: list[tuple[str, Callable[[], object]]] = []
        if Capability.HEAD in adapter.capabilities:
            calls.append(("head", lambda: adapter.head(key)))
        if Capability.RANGE_READ in adapter.capabilities:
            calls.append(("read_range", lambda: adapter.read_range(key, 0, 1)))
        if Capability.DELETE in adapter.capabilities:
            calls.append(("delete", lambda: adapter.delete(key)))
        if not calls:
            pytest.skip(f"{adapter.backend} declares no call that reads the bucket")
        for name, call in calls:
            with pytest.raises(StorageError) as caught:
                call()
            _check(
                not isinstance(caught.value, StorageNotFound),
                f"{name} against a missing bucket raised StorageNotFound",
            )

    def _require_create_only(self) -> None:
        if not self.enforces_create_only:
            pytest.skip("the server cannot enforce create-only uploads (enforces_create_only)")

    @staticmethod
    def _assert_unchanged(
        adapter: StorageAdapter, key: str, before: HeadResult, data: bytes
    ) -> None:
        after = adapter.head(key)
        _check(after.size == before.size, f"a refused upload changed the size to {after.size}")
        _check(after.version == before.version, "a refused upload changed the object's version")
        if Capability.RANGE_READ in adapter.capabilities:
            _check(adapter.read_range(key, 0, len(data)) == data, "a refused upload wrote bytes")

    def test_presigned_put_refuses_another_content_type(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self._require_header_binding()
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key = self.key()
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=4, expires_in=self.expires_in
        )
        forged = PresignedRequest(
            url=request.url,
            method=request.method,
            headers={
                **_without(request.headers, "content-type"),
                "Content-Type": self.other_content_type,
            },
        )
        self._assert_refused(upload_client, forged, b"data", secret_query_values(request))
        with pytest.raises(StorageNotFound):
            adapter.head(key)

    def test_presigned_put_refuses_a_longer_body(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self._require_header_binding()
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key = self.key()
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=4, expires_in=self.expires_in
        )
        self._assert_refused(upload_client, request, b"data+", secret_query_values(request))
        with pytest.raises(StorageNotFound):
            adapter.head(key)

    def test_presigned_put_refuses_a_tampered_signature(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self._require_signature_checks()
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key = self.key()
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=4, expires_in=self.expires_in
        )
        tampered = PresignedRequest(
            url=_tamper_longest_query_value(request.url),
            method=request.method,
            headers=request.headers,
        )
        self._assert_refused(upload_client, tampered, b"data", secret_query_values(request))
        with pytest.raises(StorageNotFound):
            adapter.head(key)

    def _require_signature_checks(self) -> None:
        if not self.checks_signatures:
            pytest.skip("the server does not check signatures (checks_signatures = False)")

    def _require_header_binding(self) -> None:
        self._require_signature_checks()
        binds = self.binds_content_headers
        if binds is False:
            pytest.skip("this backend's signatures cannot bind request headers")

    @staticmethod
    def _assert_refused(
        client: UploadClient, request: PresignedRequest, data: bytes, secrets: list[str]
    ) -> None:
        with pytest.raises(TransferFailed) as caught:
            client.put_bytes(request, data)
        status = caught.value.status
        _check(status is not None and 400 <= status < 500, f"expected a 4xx, got {status}")
        assert_no_secrets(str(caught.value), secrets, what="TransferFailed's message")

    # -- HEAD / RANGE_READ / DELETE ---------------------------------------------------

    def test_head_of_missing_key_raises_not_found(self, adapter: StorageAdapter) -> None:
        self.require(adapter, Capability.HEAD)
        with pytest.raises(StorageNotFound):
            adapter.head(self.key())

    def test_read_range_returns_exact_bytes(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.RANGE_READ)
        key, data = self.key(), payload(4096, seed=4)
        self.store(adapter, upload_client, key, data)
        _check(adapter.read_range(key, 0, 16) == data[:16], "first bytes differ")
        _check(adapter.read_range(key, 1000, 100) == data[1000:1100], "middle bytes differ")
        _check(adapter.read_range(key, 0, len(data)) == data, "whole object differs")

    def test_read_range_clips_at_the_end(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.RANGE_READ)
        key, data = self.key(), payload(100, seed=5)
        self.store(adapter, upload_client, key, data)
        _check(adapter.read_range(key, 90, 50) == data[90:], "a range past the end must clip")
        _check(adapter.read_range(key, 100, 10) == b"", "a range at the end must be empty")

    def test_read_range_of_missing_key_raises_not_found(self, adapter: StorageAdapter) -> None:
        self.require(adapter, Capability.RANGE_READ)
        with pytest.raises(StorageNotFound):
            adapter.read_range(self.key(), 0, 10)

    def test_delete_removes_and_is_idempotent(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.DELETE, Capability.HEAD)
        key = self.key()
        self.store(adapter, upload_client, key, payload(10, seed=6))
        adapter.delete(key)
        with pytest.raises(StorageNotFound):
            adapter.head(key)
        adapter.delete(key)

    def test_delete_of_a_never_stored_key_succeeds(self, adapter: StorageAdapter) -> None:
        self.require(adapter, Capability.DELETE)
        adapter.delete(self.key())

    # -- SIGNED_GET ---------------------------------------------------------------------

    def test_presign_get_downloads_the_bytes(
        self, adapter: StorageAdapter, upload_client: UploadClient, http_client: httpx.Client
    ) -> None:
        self.require(adapter, Capability.SIGNED_GET)
        key, data = self.key(), payload(2000, seed=7)
        self.store(adapter, upload_client, key, data)
        request = adapter.presign_get(key, expires_in=self.expires_in)
        _check(request.method == "GET", f"method is {request.method!r}")
        response = http_client.request("GET", request.url, headers=dict(request.headers))
        _check(response.status_code == 200, f"signed GET returned HTTP {response.status_code}")
        _check(response.content == data, "signed GET returned other bytes")

    def test_presign_get_serves_the_given_type_and_disposition(
        self, adapter: StorageAdapter, upload_client: UploadClient, http_client: httpx.Client
    ) -> None:
        self.require(adapter, Capability.SIGNED_GET, Capability.HEAD)
        if not self.sets_response_headers:
            pytest.skip("this backend's URLs cannot set response headers")
        key, data = self.key(), payload(300, seed=26)
        self.store(adapter, upload_client, key, data)
        version = adapter.head(key).version
        request = adapter.presign_get(
            key,
            expires_in=self.expires_in,
            version=version,
            content_type="text/plain",
            content_disposition='attachment; filename="report.txt"',
        )
        response = http_client.request("GET", request.url, headers=dict(request.headers))
        _check(response.status_code == 200, f"signed GET returned HTTP {response.status_code}")
        _check(response.content == data, "signed GET returned other bytes")
        served = response.headers.get("content-type", "").split(";")[0].strip()
        _check(served == "text/plain", f"served as {served!r}, not text/plain")
        disposition = response.headers.get("content-disposition", "")
        _check(disposition.startswith("attachment"), f"Content-Disposition is {disposition!r}")

    # -- MULTIPART_UPLOAD ----------------------------------------------------------------

    def test_part_limits_are_consistent(self, adapter: StorageAdapter) -> None:
        self.require(adapter, Capability.MULTIPART_UPLOAD)
        limits = adapter.part_limits
        _check(1 <= limits.min_part_size <= limits.max_part_size, "part size bounds inverted")
        _check(limits.max_parts >= 1, "max_parts must be positive")
        _check(limits.max_object_size >= limits.max_part_size, "max_object_size too small")

    def test_multipart_roundtrip_out_of_order(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.MULTIPART_UPLOAD, Capability.HEAD)
        limits = adapter.part_limits
        part_size, tail = max(limits.min_part_size, 64), 1000
        key, data = self.key(), payload(part_size + tail, seed=8)
        init = adapter.create_multipart(key, content_type=self.content_type)
        _check(bool(init.upload_id), "create_multipart returned no upload_id")
        requests = {
            number: adapter.presign_part(
                key, init.upload_id, number, expires_in=self.expires_in, content_length=size
            )
            for number, size in ((2, tail), (1, part_size))
        }
        for number, request in requests.items():
            _check(request.part_number == number, f"part {number}: part_number not set")
            _check(request.upload_id == init.upload_id, f"part {number}: upload_id not set")
            sent = {k.lower(): v for k, v in request.headers.items()}
            for name, value in init.part_headers.items():
                _check(sent.get(name.lower()) == value, f"part {number} lacks header {name}")
        uploaded = []
        for number, chunk in ((2, data[part_size:]), (1, data[:part_size])):  # out of order
            response = upload_client.put_bytes(requests[number], chunk)
            uploaded.append(UploadedPart(number, response.headers.get("ETag"), len(chunk)))
        listed = adapter.list_parts(key, init.upload_id)
        _check([p.part_number for p in listed] == [1, 2], f"list_parts gave {listed!r}")
        for part in listed:
            expected = part_size if part.part_number == 1 else tail
            _check(part.size in (None, expected), f"part {part.part_number} size {part.size}")
            _check(part.etag is not None or not limits.etag_required, "list_parts lacks ETags")
        parts = sorted(uploaded, key=lambda p: p.part_number)
        adapter.complete_multipart(key, init.upload_id, parts, content_type=self.content_type)
        head = adapter.head(key)
        _check(head.size == len(data), f"completed object has {head.size} bytes")
        _check(head.content_type == self.content_type, f"content_type is {head.content_type!r}")
        if Capability.RANGE_READ in adapter.capabilities:
            seam = adapter.read_range(key, part_size - 8, 16)
            _check(seam == data[part_size - 8 : part_size + 8], "parts were joined out of order")

    def test_completing_twice_converges(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.MULTIPART_UPLOAD, Capability.HEAD)
        key, data = self.key(), payload(100, seed=9)
        init = adapter.create_multipart(key, content_type=self.content_type)
        request = adapter.presign_part(
            key, init.upload_id, 1, expires_in=self.expires_in, content_length=len(data)
        )
        response = upload_client.put_bytes(request, data)
        parts = [UploadedPart(1, response.headers.get("ETag"), len(data))]
        adapter.complete_multipart(key, init.upload_id, parts, content_type=self.content_type)
        # A retried complete either succeeds again or says the upload is gone.
        with contextlib.suppress(StorageNotFound):
            adapter.complete_multipart(key, init.upload_id, parts, content_type=self.content_type)
        _check(adapter.head(key).size == len(data), "a second complete changed the object")

    def test_complete_multipart_refuses_an_existing_object(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.MULTIPART_UPLOAD, Capability.PRESIGNED_PUT)
        self.require(adapter, Capability.HEAD)
        self._require_create_only()
        key, first = self.key(), payload(80, seed=27)
        init = adapter.create_multipart(key, content_type=self.content_type)
        request = adapter.presign_part(
            key, init.upload_id, 1, expires_in=self.expires_in, content_length=80
        )
        response = upload_client.put_bytes(request, payload(80, seed=28))
        self.store(adapter, upload_client, key, first)  # someone else created the key
        before = adapter.head(key)
        parts = [UploadedPart(1, response.headers.get("ETag"), 80)]
        with pytest.raises(StorageConflict):
            adapter.complete_multipart(key, init.upload_id, parts, content_type=self.content_type)
        self._assert_unchanged(adapter, key, before, first)
        adapter.abort_multipart(key, init.upload_id)

    def test_abort_is_idempotent_and_leaves_nothing(
        self, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.MULTIPART_UPLOAD)
        key = self.key()
        init = adapter.create_multipart(key, content_type=self.content_type)
        request = adapter.presign_part(
            key, init.upload_id, 1, expires_in=self.expires_in, content_length=10
        )
        upload_client.put_bytes(request, payload(10, seed=12))
        adapter.abort_multipart(key, init.upload_id)
        adapter.abort_multipart(key, init.upload_id)
        # Either the upload is forgotten, or it provably holds no part.
        try:
            held = adapter.list_parts(key, init.upload_id)
        except StorageNotFound:
            held = []
        _check(held == [], f"an aborted upload still holds {held!r}")

    def test_list_parts_of_unknown_upload_raises_not_found(self, adapter: StorageAdapter) -> None:
        self.require(adapter, Capability.MULTIPART_UPLOAD)
        key = self.key()
        init = adapter.create_multipart(key, content_type=self.content_type)
        adapter.abort_multipart(key, init.upload_id)
        with pytest.raises(StorageNotFound):
            adapter.list_parts(self.key(), init.upload_id)

    # -- RESUMABLE_UPLOAD / RESUMABLE_STATUS -----------------------------------------------

    def test_resumable_roundtrip(
        self, adapter: StorageAdapter, upload_client: UploadClient, tmp_path: Path
    ) -> None:
        self.require(adapter, Capability.RESUMABLE_UPLOAD, Capability.HEAD)
        key, data = self.key(), payload(256 * 1024 + 1000, seed=10)
        path = tmp_path / "resumable.bin"
        path.write_bytes(data)
        init = adapter.create_resumable(
            key, content_type=self.content_type, size=len(data), origin=None
        )
        _check(init.session_uri not in repr(init), "repr(ResumableInit) shows the session URI")
        upload_client.upload_resumable(init.session_uri, path, chunk_size=256 * 1024)
        if Capability.RESUMABLE_STATUS in adapter.capabilities:
            status = adapter.resumable_status(key, init.session_uri)
            _check(status.state == "complete", f"status after upload is {status.state!r}")
            _check(status.committed_bytes == len(data), f"{status.committed_bytes} committed")
        head = adapter.head(key)
        _check(head.size == len(data), f"resumable object has {head.size} bytes")
        adapter.cancel_resumable(key, init.session_uri)
        adapter.cancel_resumable(key, init.session_uri)

    def test_resumable_status_then_cancel(self, adapter: StorageAdapter) -> None:
        self.require(adapter, Capability.RESUMABLE_UPLOAD, Capability.RESUMABLE_STATUS)
        key = self.key()
        init = adapter.create_resumable(key, content_type=self.content_type, size=10, origin=None)
        status = adapter.resumable_status(key, init.session_uri)
        _check(status.state == "in_progress", f"a fresh session is {status.state!r}")
        _check(status.committed_bytes == 0, f"a fresh session holds {status.committed_bytes}")
        adapter.cancel_resumable(key, init.session_uri)
        adapter.cancel_resumable(key, init.session_uri)
        try:
            after = adapter.resumable_status(key, init.session_uri)
        except StorageNotFound:
            return
        _check(after.state == "expired", f"a cancelled session reports {after.state!r}")

    # -- secrets and errors ----------------------------------------------------------------

    def _sample_requests(self, adapter: StorageAdapter) -> list[PresignedRequest]:
        key, caps, out = self.key(), adapter.capabilities, []
        if Capability.PRESIGNED_PUT in caps:
            out.append(
                adapter.presign_put(
                    key, content_type=self.content_type, content_length=1, expires_in=60
                )
            )
        if Capability.SIGNED_GET in caps:
            out.append(adapter.presign_get(key, expires_in=60))
        return out

    def test_adapter_repr_shows_no_secrets(
        self, adapter: StorageAdapter, adapter_secrets: list[str]
    ) -> None:
        secrets = list(adapter_secrets)
        for request in self._sample_requests(adapter):
            secrets += secret_query_values(request)
        for text in (repr(adapter), str(adapter)):
            assert_no_secrets(text, secrets, what="the adapter's repr")

    def test_presigned_request_repr_shows_no_signature(
        self, adapter: StorageAdapter, adapter_secrets: list[str]
    ) -> None:
        requests = self._sample_requests(adapter)
        if not requests:
            pytest.skip(f"{adapter.backend} signs no URLs")
        for request in requests:
            secrets = [*adapter_secrets, *secret_query_values(request)]
            _check(bool(secret_query_values(request)), "a signed URL must carry its signature")
            assert_no_secrets(repr(request), secrets, what="repr(PresignedRequest)")

    def test_not_found_errors_are_typed_and_clean(
        self, adapter: StorageAdapter, adapter_secrets: list[str]
    ) -> None:
        calls: list[Callable[[], object]] = []
        key = self.key()
        if Capability.HEAD in adapter.capabilities:
            calls.append(lambda: adapter.head(key))
        if Capability.RANGE_READ in adapter.capabilities:
            calls.append(lambda: adapter.read_range(key, 0, 1))
        if not calls:
            pytest.skip(f"{adapter.backend} declares neither head nor range_read")
        for call in calls:
            with pytest.raises(StorageNotFound) as caught:
                call()
            _check_error(caught.value, adapter_secrets)


def _check_error(exc: BaseException, secrets: Iterable[str]) -> None:
    """A rindle error whose message and visible chain show no SDK exception or secret."""
    _check(isinstance(exc, RindleError), f"{type(exc).__name__} is not a RindleError")
    assert_no_secrets(str(exc), secrets, what=f"{type(exc).__name__}'s message")
    cause = exc.__cause__
    _check(cause is None or isinstance(cause, RindleError), "an SDK exception is chained")
    context = exc.__context__
    _check(
        context is None or isinstance(context, RindleError) or exc.__suppress_context__,
        "an SDK exception shows in the traceback (use `raise … from None`)",
    )


def _without(headers: Mapping[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name}


def _tamper_longest_query_value(url: str) -> str:
    """*url* with one character of its longest raw query value changed."""
    parts = urlsplit(url)
    fields = parts.query.split("&")
    index = max(range(len(fields)), key=lambda i: len(fields[i].partition("=")[2]))
    name, _, value = fields[index].partition("=")
    middle = len(value) // 2
    for pos in [*range(middle, len(value)), *range(middle)]:
        if value[pos].isalnum():
            replacement = "A" if value[pos] != "A" else "B"
            if value[pos].isdigit():
                replacement = "1" if value[pos] != "1" else "2"
            elif value[pos].islower():
                replacement = "a" if value[pos] != "a" else "b"
            value = value[:pos] + replacement + value[pos + 1 :]
            break
    fields[index] = f"{name}={value}"
    return parts._replace(query="&".join(fields)).geturl()
