"""The storage-adapter contract suite, public in :mod:`rindle_core.testing`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, ClassVar, Final

import httpx
import pytest

from ._contract_helpers import (
    assert_no_secrets,
    fail_unless,
    secret_query_values,
    unique_key,
)
from ._errors import (
    InvalidArgument,
    RindleError,
    StorageNotFound,
    UploadUnsupported,
)
from ._storage_checks import ContractSelf, ObjectChecks
from ._storage_part_checks import MultipartChecks, ResumableChecks
from ._storage_post_checks import PostChecks
from .client import UploadClient
from .storage import (
    Capability,
    CommittedPartsStorage,
    MultipartStorage,
    PresignedRequest,
    ResumableStorage,
    StorageAdapter,
    capabilities_of,
    implemented_capabilities,
    supports_multipart,
    supports_resumable,
)

__all__ = ["StorageAdapterContract"]

_MISSING: Final = object()
#: A lifetime no backend accepts (a century).
_ABSURD_EXPIRES_IN: Final = 100 * 365 * 24 * 3600
#: Capabilities whose calls a withholding adapter refuses with UploadUnsupported.
_GATED: Final = frozenset(
    {
        Capability.PRESIGNED_PUT,
        Capability.SIGNED_GET,
        Capability.MULTIPART_UPLOAD,
        Capability.RESUMABLE_UPLOAD,
    }
)


def _members(protocol: type) -> list[str]:
    """The public members *protocol* itself declares (attributes, methods, properties)."""
    names = set(getattr(protocol, "__annotations__", {}))
    names.update(
        name
        for name, value in vars(protocol).items()
        if callable(value) or isinstance(value, property)
    )
    return sorted(name for name in names if not name.startswith("_"))


_OPTIONAL_PROTOCOLS: Final = (MultipartStorage, CommittedPartsStorage, ResumableStorage)


class StorageAdapterContract(ObjectChecks, MultipartChecks, ResumableChecks, PostChecks):
    """The behaviour every storage adapter must show; subclass it as ``Test…``.

    Override the ``adapter`` and ``missing_bucket_adapter`` fixtures
    (required); optionally ``http_client`` (an :class:`httpx.Client`, e.g. to
    trust a test CA) and ``adapter_secrets`` (credential strings that must
    never be shown). Set ``checks_signatures = True`` when the server
    verifies signatures, which enables the tamper / wrong content type /
    wrong length tests.

    The structure, argument and secrecy checks are here; the checks of
    single objects, multipart uploads and resumable sessions are mixed in.
    A plugin's own tests may use the helpers: :meth:`key`, :meth:`require`
    (skip unless the adapter offers capabilities), :meth:`require_multipart`
    and :meth:`require_resumable` (the same, returning the adapter typed as
    the capability's protocol) and :meth:`store` (upload as a client would).
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
    #: Whether the server refuses a part whose bytes do not match the checksum
    #: its URL binds (for adapters whose ``part_limits`` name checksum
    #: algorithms). Set it False only for an emulator that stores parts
    #: unchecked, and prove the checksum is signed (``checks_signatures``).
    verifies_part_checksums: ClassVar[bool] = True
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
        """Skip the test unless *adapter* offers every capability (declared and implemented)."""
        offered = capabilities_of(adapter)
        missing = [c.value for c in capabilities if c not in offered]
        if missing:
            pytest.skip(f"{adapter.backend} does not offer {', '.join(missing)}")

    def require_multipart(self, adapter: StorageAdapter, *also: Capability) -> MultipartStorage:
        """*adapter* as a :class:`MultipartStorage`; skip unless it is one and has *also*."""
        self.require(adapter, Capability.MULTIPART_UPLOAD, *also)
        if supports_multipart(adapter):
            return adapter
        pytest.skip(f"{adapter.backend} does not offer multipart_upload")

    def require_resumable(self, adapter: StorageAdapter, *also: Capability) -> ResumableStorage:
        """*adapter* as a :class:`ResumableStorage`; skip unless it is one and has *also*."""
        self.require(adapter, Capability.RESUMABLE_UPLOAD, *also)
        if supports_resumable(adapter):
            return adapter
        pytest.skip(f"{adapter.backend} does not offer resumable_upload")

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

    # -- identity and structure ---------------------------------------------------

    def test_backend_is_a_non_empty_string(self, adapter: StorageAdapter) -> None:
        fail_unless(
            isinstance(adapter.backend, str) and bool(adapter.backend), "backend: empty name"
        )

    def test_adapter_satisfies_the_storage_adapter_protocol(self, adapter: StorageAdapter) -> None:
        missing = [
            name
            for name in _members(StorageAdapter)
            if inspect.getattr_static(adapter, name, _MISSING) is _MISSING
        ]
        fail_unless(not missing, f"the adapter lacks StorageAdapter members: {', '.join(missing)}")
        fail_unless(isinstance(adapter, StorageAdapter), "the adapter is not a StorageAdapter")

    def test_capabilities_are_a_frozenset_of_capability(self, adapter: StorageAdapter) -> None:
        caps = adapter.capabilities
        fail_unless(isinstance(caps, frozenset), f"capabilities is a {type(caps).__name__}")
        fail_unless(
            all(isinstance(c, Capability) for c in caps), "capabilities holds non-Capability"
        )
        fail_unless(bool(caps), "an adapter must declare at least one capability")

    def test_declares_only_what_it_implements(self, adapter: StorageAdapter) -> None:
        extra = adapter.capabilities - implemented_capabilities(type(adapter))
        fail_unless(
            not extra,
            f"capabilities declares {', '.join(sorted(c.value for c in extra))} "
            "without implementing its protocol",
        )

    def test_implements_each_optional_protocol_wholly_or_not_at_all(
        self, adapter: StorageAdapter
    ) -> None:
        for protocol in _OPTIONAL_PROTOCOLS:
            members = _members(protocol)
            absent = [
                name
                for name in members
                if inspect.getattr_static(type(adapter), name, _MISSING) is _MISSING
            ]
            fail_unless(
                len(absent) in (0, len(members)),
                f"{type(adapter).__name__} implements part of {protocol.__name__} "
                f"(it lacks {', '.join(absent)}): implement a capability wholly or not at all",
            )

    def test_withheld_capabilities_are_refused_not_stubbed(self, adapter: StorageAdapter) -> None:
        """A capability implemented but not offered (``withheld``) refuses its calls.

        Its entry calls raise :class:`~rindle_core.UploadUnsupported`; no
        call of it only raises :class:`NotImplementedError`.
        """
        withheld = implemented_capabilities(type(adapter)) - adapter.capabilities
        if not withheld:
            pytest.skip(f"{adapter.backend} offers every capability it implements")
        calls = self._calls(adapter, self.key())
        for capability in sorted(withheld & calls.keys()):
            try:
                calls[capability]()
            except NotImplementedError:
                pytest.fail(
                    f"{capability.value}: a method only raises NotImplementedError; an adapter "
                    "implements a capability or has no method for it",
                    pytrace=False,
                )
            except UploadUnsupported:
                continue
            except RindleError:
                fail_unless(
                    capability not in _GATED, f"{capability.value}: not refused as withheld"
                )
            else:
                fail_unless(capability not in _GATED, f"{capability.value} works, yet is withheld")

    def _calls(self, adapter: StorageAdapter, key: str) -> dict[Capability, Callable[[], object]]:
        """One call on *key* per capability; make only those *adapter* implements."""
        ctype = self.content_type

        def call(method: str, *args: object, **kwargs: object) -> Callable[[], object]:
            return lambda: getattr(adapter, method)(*args, **kwargs)

        return {
            Capability.HEAD: call("head", key),
            Capability.RANGE_READ: call("read_range", key, 0, 1),
            Capability.DELETE: call("delete", key),
            Capability.PRESIGNED_PUT: call(
                "presign_put", key, content_type=ctype, content_length=1, expires_in=60
            ),
            Capability.SIGNED_GET: call("presign_get", key, expires_in=60),
            Capability.MULTIPART_UPLOAD: call("create_multipart", key, content_type=ctype),
            Capability.RESUMABLE_UPLOAD: call(
                "create_resumable", key, content_type=ctype, size=1, origin=None
            ),
            Capability.RESUMABLE_STATUS: call(
                "resumable_status", key, "http://127.0.0.1:9/rindle-contract-unused"
            ),
            Capability.COMMITTED_PARTS: call("committed_parts", key),
        }

    # -- arguments every adapter checks the same way ---------------------------------

    def test_control_characters_in_a_key_are_invalid(self, adapter: StorageAdapter) -> None:
        checked = capabilities_of(adapter) & {
            Capability.HEAD,
            Capability.RANGE_READ,
            Capability.DELETE,
            *_GATED,
        }
        for bad in ("a\x00b", "line\nbreak", "tab\there", "del\x7f"):
            calls = self._calls(adapter, f"{self.key_prefix}/{bad}")
            for capability in sorted(checked):
                with pytest.raises(InvalidArgument):
                    calls[capability]()

    def test_expires_in_out_of_range_is_invalid(self, adapter: StorageAdapter) -> None:
        key, offered = self.key(), capabilities_of(adapter)
        calls: list[Callable[[int], object]] = []
        if Capability.PRESIGNED_PUT in offered:
            calls.append(
                lambda seconds: adapter.presign_put(
                    key, content_type=self.content_type, content_length=1, expires_in=seconds
                )
            )
        if Capability.SIGNED_GET in offered:
            calls.append(lambda seconds: adapter.presign_get(key, expires_in=seconds))
        if not calls:
            pytest.skip(f"{adapter.backend} signs no URLs")
        for call in calls:
            for seconds in (0, -1, _ABSURD_EXPIRES_IN):
                with pytest.raises(InvalidArgument):
                    call(seconds)

    # -- secrets and errors ----------------------------------------------------------------

    def _sample_requests(self, adapter: StorageAdapter) -> list[PresignedRequest]:
        key, offered, out = self.key(), capabilities_of(adapter), []
        if Capability.PRESIGNED_PUT in offered:
            out.append(
                adapter.presign_put(
                    key, content_type=self.content_type, content_length=1, expires_in=60
                )
            )
        if Capability.SIGNED_GET in offered:
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
            fail_unless(bool(secret_query_values(request)), "a signed URL must carry a signature")
            assert_no_secrets(repr(request), secrets, what="repr(PresignedRequest)")

    def test_not_found_errors_are_typed_and_clean(
        self, adapter: StorageAdapter, adapter_secrets: list[str]
    ) -> None:
        calls: list[Callable[[], object]] = []
        key, offered = self.key(), capabilities_of(adapter)
        if Capability.HEAD in offered:
            calls.append(lambda: adapter.head(key))
        if Capability.RANGE_READ in offered:
            calls.append(lambda: adapter.read_range(key, 0, 1))
        if not calls:
            pytest.skip(f"{adapter.backend} declares neither head nor range_read")
        for call in calls:
            with pytest.raises(StorageNotFound) as caught:
                call()
            _check_error(caught.value, adapter_secrets)


def _check_error(exc: BaseException, secrets: Iterable[str]) -> None:
    """A rindle error whose message and visible chain show no SDK exception or secret."""
    fail_unless(isinstance(exc, RindleError), f"{type(exc).__name__} is not a RindleError")
    assert_no_secrets(str(exc), secrets, what=f"{type(exc).__name__}'s message")
    cause = exc.__cause__
    fail_unless(cause is None or isinstance(cause, RindleError), "an SDK exception is chained")
    context = exc.__context__
    fail_unless(
        context is None or isinstance(context, RindleError) or exc.__suppress_context__,
        "an SDK exception shows in the traceback (use `raise … from None`)",
    )


if TYPE_CHECKING:

    def _fits(contract: StorageAdapterContract) -> ContractSelf:
        """mypy proves the contract is what its mixed-in checks take as ``self``."""
        return contract
