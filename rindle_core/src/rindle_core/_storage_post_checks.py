"""What the storage contract checks of HTML form POSTs under a signed policy.

Mixed into :class:`rindle_core.testing.StorageAdapterContract`; each check's
``self`` is that contract, as :class:`PostContractSelf` describes it. Every
upload is a real ``multipart/form-data`` POST (httpx) with the policy's
fields and the file last, as a browser form or Uppy sends it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import ClassVar, Final, Protocol
from urllib.parse import urlsplit

import httpx
import pytest

from ._contract_helpers import assert_no_secrets, fail_unless, payload, unique_key
from ._errors import InvalidArgument, StorageNotFound, UploadUnsupported
from ._storage_checks import ContractSelf, assert_unchanged
from .storage import (
    Capability,
    PostPolicyStorage,
    PresignedPost,
    StorageAdapter,
    capabilities_of,
    implemented_capabilities,
    supports_post_policy,
)

__all__ = ["PostChecks", "PostContractSelf", "PostPolicyContract", "post_form"]

#: A lifetime no backend accepts (a century).
_ABSURD_EXPIRES_IN: Final = 100 * 365 * 24 * 3600


class PostContractSelf(ContractSelf, Protocol):
    """What the POST checks use of the contract, besides :class:`ContractSelf`."""

    @property
    def enforces_post_policy(self) -> bool: ...
    @property
    def post_is_create_only(self) -> bool: ...


def post_form(
    client: httpx.Client, post: PresignedPost, data: bytes, *, content_type: str | None = None
) -> httpx.Response:
    """POST *data* with *post*'s fields (its Content-Type replaced by *content_type*
    when given), the file last, as a browser form does."""
    fields = dict(post.fields)
    bound = next((name for name in fields if name.lower() == "content-type"), "Content-Type")
    if content_type is not None:
        fields[bound] = content_type
    sent_type = fields.get(bound, "application/octet-stream")
    return client.post(post.url, data=fields, files={"file": ("upload.bin", data, sent_type)})


def require_post(kit: ContractSelf, adapter: StorageAdapter) -> PostPolicyStorage:
    """*adapter* as a :class:`PostPolicyStorage` (with HEAD); skip unless it is one."""
    kit.require(adapter, Capability.PRESIGNED_POST, Capability.HEAD)
    if supports_post_policy(adapter):
        return adapter
    pytest.skip(f"{adapter.backend} does not offer presigned_post")


def require_policy_checks(kit: PostContractSelf) -> None:
    """Skip unless the server checks POST policies (signature, conditions, expiry)."""
    if not kit.enforces_post_policy:
        pytest.skip("the server does not check POST policies (enforces_post_policy = False)")


def assert_post_refused(
    client: httpx.Client, post: PresignedPost, data: bytes, *, content_type: str | None = None
) -> None:
    """Posting *data* with *post* is answered 4xx."""
    response = post_form(client, post, data, content_type=content_type)
    status = response.status_code
    fail_unless(400 <= status < 500, f"expected a 4xx for a forbidden POST, got {status}")


def _secret_fields(post: PresignedPost, key: str, content_type: str) -> list[str]:
    """The field values a repr must not show: the policy, its signature, tokens."""
    public = {key, content_type}
    return [v for v in post.fields.values() if len(v) >= 16 and v not in public]


class PostChecks:
    """Form POSTs: what lands, and what the policy refuses."""

    #: Whether the server checks POST policies: their signature, their
    #: conditions (key, content type, size range) and their expiry.
    enforces_post_policy: ClassVar[bool] = False
    #: Whether the server refuses a POST to a key that already holds an
    #: object (local: yes; S3 and GCS POSTs replace it, see ADR 0103).
    post_is_create_only: ClassVar[bool] = False

    def test_presign_post_describes_a_bound_form(
        self: PostContractSelf, adapter: StorageAdapter
    ) -> None:
        storage, key = require_post(self, adapter), self.key()
        before = dt.datetime.now(dt.UTC)
        post = storage.presign_post(
            key, content_type=self.content_type, min_size=0, max_size=100, expires_in=300
        )
        fail_unless(urlsplit(post.url).scheme in ("http", "https"), "the URL is not http(s)")
        fail_unless(post.fields.get("key") == key, "the form must carry the bound key")
        types = [v for k, v in post.fields.items() if k.lower() == "content-type"]
        fail_unless(types == [self.content_type], "the form must carry the bound Content-Type")
        fail_unless("file" not in post.fields, "the file is the client's field, sent last")
        expires_at = post.expires_at
        fail_unless(expires_at.tzinfo is not None, "expires_at is naive")
        fail_unless(before < expires_at <= before + dt.timedelta(seconds=360), "bad expires_at")
        secrets = _secret_fields(post, key, self.content_type)
        fail_unless(bool(secrets), "a signed form must carry a policy or a signature")
        assert_no_secrets(repr(post), secrets, what="repr(PresignedPost)")
        if self.post_is_create_only:
            fail_unless(post.create_only, "the server's POST is create-only: say so (create_only)")

    def test_post_stores_the_object_with_the_bound_type(
        self: PostContractSelf, adapter: StorageAdapter, http_client: httpx.Client
    ) -> None:
        storage, key = require_post(self, adapter), self.key()
        data = payload(1000, seed=40)
        post = storage.presign_post(
            key,
            content_type=self.content_type,
            min_size=1,
            max_size=4096,
            expires_in=self.expires_in,
        )
        response = post_form(http_client, post, data)
        fail_unless(response.is_success, f"the form POST returned {response.status_code}")
        head = storage.head(key)
        fail_unless(head.size == len(data), f"the posted object has {head.size} bytes")
        fail_unless(
            head.content_type == self.content_type, f"content_type is {head.content_type!r}"
        )
        if Capability.RANGE_READ in capabilities_of(storage):
            fail_unless(storage.read_range(key, 0, len(data)) == data, "other bytes were stored")

    def test_post_refuses_a_body_outside_the_size_range(
        self: PostContractSelf, adapter: StorageAdapter, http_client: httpx.Client
    ) -> None:
        storage, key = require_post(self, adapter), self.key()
        require_policy_checks(self)
        post = storage.presign_post(
            key, content_type=self.content_type, min_size=10, max_size=20, expires_in=60
        )
        for size in (21, 9):
            assert_post_refused(http_client, post, payload(size, seed=size))
            with pytest.raises(StorageNotFound):
                storage.head(key)

    def test_post_refuses_another_content_type(
        self: PostContractSelf, adapter: StorageAdapter, http_client: httpx.Client
    ) -> None:
        storage, key = require_post(self, adapter), self.key()
        require_policy_checks(self)
        post = storage.presign_post(
            key, content_type=self.content_type, min_size=0, max_size=100, expires_in=60
        )
        assert_post_refused(http_client, post, b"data", content_type=self.other_content_type)
        with pytest.raises(StorageNotFound):
            storage.head(key)

    def test_post_refuses_another_key(
        self: PostContractSelf, adapter: StorageAdapter, http_client: httpx.Client
    ) -> None:
        storage, key, other = require_post(self, adapter), self.key(), self.key()
        require_policy_checks(self)
        post = storage.presign_post(
            key, content_type=self.content_type, min_size=0, max_size=100, expires_in=60
        )
        moved = PresignedPost(
            url=post.url, fields={**post.fields, "key": other}, expires_at=post.expires_at
        )
        assert_post_refused(http_client, moved, b"data")
        for name in (key, other):
            with pytest.raises(StorageNotFound):
                storage.head(name)

    def test_expired_post_policy_is_refused(
        self: PostContractSelf, adapter: StorageAdapter, http_client: httpx.Client
    ) -> None:
        storage, key = require_post(self, adapter), self.key()
        require_policy_checks(self)
        post = storage.presign_post(
            key, content_type=self.content_type, min_size=0, max_size=100, expires_in=1
        )
        time.sleep(2.5)
        assert_post_refused(http_client, post, b"late")
        with pytest.raises(StorageNotFound):
            storage.head(key)

    def test_second_post_to_an_existing_key_is_refused(
        self: PostContractSelf, adapter: StorageAdapter, http_client: httpx.Client
    ) -> None:
        storage, key = require_post(self, adapter), self.key()
        if not self.post_is_create_only:
            pytest.skip("the backend's POST replaces an existing object (post_is_create_only)")
        first = payload(64, seed=41)
        post = storage.presign_post(
            key, content_type=self.content_type, min_size=0, max_size=100, expires_in=600
        )
        fail_unless(post_form(http_client, post, first).is_success, "the first POST failed")
        before = storage.head(key)
        assert_post_refused(http_client, post, payload(64, seed=42))
        again = storage.presign_post(
            key, content_type=self.content_type, min_size=0, max_size=100, expires_in=600
        )
        assert_post_refused(http_client, again, payload(64, seed=43))
        assert_unchanged(storage, key, before, first)

    def test_presign_post_checks_its_arguments(
        self: PostContractSelf, adapter: StorageAdapter
    ) -> None:
        storage, key = require_post(self, adapter), self.key()

        def sign(
            *,
            key: str = key,
            content_type: str = self.content_type,
            min_size: int = 0,
            max_size: int = 10,
            expires_in: int = 60,
        ) -> Callable[[], object]:
            return lambda: storage.presign_post(
                key,
                content_type=content_type,
                min_size=min_size,
                max_size=max_size,
                expires_in=expires_in,
            )

        for call in (
            sign(min_size=5, max_size=4),
            sign(min_size=-1),
            sign(max_size=storage.max_post_size + 1),
            sign(content_type=""),
            sign(content_type="text/plain\nX: y"),
            sign(expires_in=0),
            sign(expires_in=_ABSURD_EXPIRES_IN),
            sign(key=f"{key}\nbreak"),
        ):
            with pytest.raises(InvalidArgument):
                call()

    def test_withheld_post_is_refused(self: PostContractSelf, adapter: StorageAdapter) -> None:
        withheld = implemented_capabilities(type(adapter)) - adapter.capabilities
        if Capability.PRESIGNED_POST not in withheld or not isinstance(adapter, PostPolicyStorage):
            pytest.skip(f"{adapter.backend} does not withhold presigned_post")
        with pytest.raises(UploadUnsupported):
            adapter.presign_post(
                self.key(), content_type=self.content_type, min_size=0, max_size=1, expires_in=60
            )


class PostPolicyContract(PostChecks):
    """Only the POST checks, for a plugin's own tests against another server.

    :class:`~rindle_core.testing.StorageAdapterContract` runs them with the
    rest; this runs them alone, e.g. against an emulator behind a
    :class:`~rindle_core._post_policy_front.PostPolicyFront` with
    ``enforces_post_policy = True``. Override the ``adapter`` fixture.
    """

    content_type: ClassVar[str] = "application/pdf"
    other_content_type: ClassVar[str] = "image/png"
    expires_in: ClassVar[int] = 600

    @pytest.fixture
    def adapter(self) -> StorageAdapter:
        """The adapter under test."""
        pytest.fail(f"{type(self).__name__} must override the `adapter` fixture", pytrace=False)

    @pytest.fixture
    def http_client(self) -> Iterator[httpx.Client]:
        """The HTTP client that posts the forms."""
        with httpx.Client(timeout=60.0, follow_redirects=False) as client:
            yield client

    def key(self) -> str:
        """A fresh key."""
        return unique_key("rindle-contract")

    @staticmethod
    def require(adapter: StorageAdapter, *capabilities: Capability) -> None:
        """Skip the test unless *adapter* offers every capability."""
        missing = [c.value for c in capabilities if c not in capabilities_of(adapter)]
        if missing:
            pytest.skip(f"{adapter.backend} does not offer {', '.join(missing)}")
