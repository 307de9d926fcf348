"""The adapter kit's base classes, on a tiny in-memory adapter whose hooks record their calls.

Also :func:`capabilities_of` and the ``supports_*`` guards on plain protocol
implementations (no kit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pytest

from fakes import MemoryStorage
from rindle_core import (
    Capability,
    HeadResult,
    InvalidArgument,
    InvalidParts,
    MultipartUpload,
    PartLimits,
    PresignedPost,
    PresignedRequest,
    ResumableStatus,
    ResumableUpload,
    StorageConflict,
    StorageError,
    StorageNotFound,
    UploadedPart,
    UploadUnsupported,
)
from rindle_core.adapters import (
    BaseCommittedPartsStorage,
    BaseMultipartStorage,
    BasePostPolicyStorage,
    BaseResumableStorage,
    BaseStorage,
    RangeNotSatisfiable,
)
from rindle_core.storage import (
    StorageAdapter,
    capabilities_of,
    implemented_capabilities,
    supports_committed_parts,
    supports_multipart,
    supports_resumable,
)

KEY = "kit/object.bin"
CT = "application/pdf"
SESSION = "https://storage.example/session/1"
WEEK = 7 * 24 * 3600
LIMITS = PartLimits(
    min_part_size=5, max_part_size=100, max_parts=10, max_object_size=1000, etag_required=True
)
BASE = frozenset(
    {
        Capability.HEAD,
        Capability.RANGE_READ,
        Capability.DELETE,
        Capability.PRESIGNED_PUT,
        Capability.SIGNED_GET,
    }
)
EXPIRES_AT = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


class Tiny(BaseStorage):
    """Objects in a dict; every hook records its call."""

    backend = "tiny"
    max_put_size = 50

    def __init__(self, *, withheld: frozenset[Capability] = frozenset()) -> None:
        self.withheld = withheld
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.objects: dict[str, tuple[bytes, str]] = {}
        #: what the next call of a hook raises instead of working
        self.raises: dict[str, Exception] = {}

    def record(self, hook: str, *args: object) -> None:
        self.calls.append((hook, args))
        error = self.raises.pop(hook, None)
        if error is not None:
            raise error

    def hooks(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _head(self, key: str) -> HeadResult:
        self.record("_head", key)
        if key not in self.objects:
            raise StorageNotFound(key)
        data, ctype = self.objects[key]
        return HeadResult(size=len(data), content_type=ctype, version=f"v{len(data)}")

    def _read_range(self, key: str, start: int, length: int, *, version: str | None) -> bytes:
        self.record("_read_range", key, start, length, version)
        if key not in self.objects:
            raise StorageNotFound(key)
        data = self.objects[key][0]
        if start >= len(data):
            raise RangeNotSatisfiable
        return data[start:]  # more than asked: the base trims it

    def _delete(self, key: str) -> None:
        self.record("_delete", key)
        if self.objects.pop(key, None) is None:
            raise StorageNotFound(key)

    def _presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        self.record("_presign_put", key, content_type, content_length, expires_in)
        return PresignedRequest(url=f"https://tiny/{key}?sig=s", method="PUT")

    def _presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None,
        content_type: str | None,
        content_disposition: str | None,
    ) -> PresignedRequest:
        self.record("_presign_get", key, expires_in, version, content_type, content_disposition)
        return PresignedRequest(url=f"https://tiny/{key}?sig=s", method="GET")


class TinyMultipartHooks(Tiny, BaseMultipartStorage):
    """Every multipart hook, but no ``part_limits``: still abstract."""

    def _create_multipart(self, key: str, *, content_type: str) -> MultipartUpload:
        self.record("_create_multipart", key, content_type)
        return MultipartUpload(upload_id="u1")

    def _presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None,
    ) -> PresignedRequest:
        self.record("_presign_part", key, upload_id, part_number, expires_in, content_length)
        return PresignedRequest(url="https://tiny/part?sig=s", method="PUT")

    def _list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        self.record("_list_parts", key, upload_id)
        return [UploadedPart(3, '"c"'), UploadedPart(1, '"a"'), UploadedPart(2, '"b"')]

    def _complete_multipart(
        self, key: str, upload_id: str, parts: list[UploadedPart], *, content_type: str
    ) -> None:
        self.record("_complete_multipart", key, upload_id, parts, content_type)

    def _abort_multipart(self, key: str, upload_id: str) -> None:
        self.record("_abort_multipart", key, upload_id)


class TinyMultipart(TinyMultipartHooks):
    @property
    def part_limits(self) -> PartLimits:
        return LIMITS


class TinyResumable(Tiny, BaseResumableStorage):
    def _create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableUpload:
        self.record("_create_resumable", key, content_type, size, origin)
        return ResumableUpload(SESSION, "r1", EXPIRES_AT)

    def _resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        self.record("_resumable_status", key, session_uri)
        return ResumableStatus("in_progress", 0)

    def _cancel_resumable(self, key: str, session_uri: str) -> None:
        self.record("_cancel_resumable", key, session_uri)


class TinyCommitted(Tiny, BaseCommittedPartsStorage):
    def _committed_parts(self, key: str, *, upload_id: str | None) -> list[UploadedPart]:
        self.record("_committed_parts", key, upload_id)
        return [UploadedPart(1, '"a"')]


class TinyPost(Tiny, BasePostPolicyStorage):
    max_post_size = 1000

    def _presign_post(
        self, key: str, *, content_type: str, min_size: int, max_size: int, expires_in: int
    ) -> PresignedPost:
        self.record("_presign_post", key, content_type, min_size, max_size, expires_in)
        return PresignedPost("https://tiny/", {"key": key, "policy": "p"}, EXPIRES_AT)


class TinyEverything(TinyMultipart, TinyResumable, TinyCommitted, TinyPost):
    """Every capability the kit has."""


def parts(*numbers: int) -> list[UploadedPart]:
    return [UploadedPart(n, f'"{n}"') for n in numbers]


# -- argument checks happen before any hook -------------------------------------------------------

BAD_CALLS: dict[str, Callable[[TinyEverything], object]] = {
    "empty key": lambda s: s.head(""),
    "non-string key": lambda s: s.head(5),  # type: ignore[arg-type]
    "control character in key": lambda s: s.delete("a\x00b"),
    "newline in key": lambda s: s.read_range("a\nb", 0, 1),
    "key over 1024 bytes": lambda s: s.head("é" * 513),
    "negative start": lambda s: s.read_range(KEY, -1, 1),
    "negative length": lambda s: s.read_range(KEY, 0, -1),
    "bool start": lambda s: s.read_range(KEY, True, 1),
    "float length": lambda s: s.read_range(KEY, 0, 1.5),  # type: ignore[arg-type]
    "empty version": lambda s: s.read_range(KEY, 0, 1, version=""),
    "empty content type": lambda s: s.presign_put(
        KEY, content_type="", content_length=1, expires_in=60
    ),
    "header injection": lambda s: s.presign_put(
        KEY, content_type="text/plain\r\nX-Evil: 1", content_length=1, expires_in=60
    ),
    "negative content length": lambda s: s.presign_put(
        KEY, content_type=CT, content_length=-1, expires_in=60
    ),
    "PUT over max_put_size": lambda s: s.presign_put(
        KEY, content_type=CT, content_length=51, expires_in=60
    ),
    "expires_in 0": lambda s: s.presign_put(KEY, content_type=CT, content_length=1, expires_in=0),
    "expires_in past a week": lambda s: s.presign_get(KEY, expires_in=WEEK + 1),
    "bool expires_in": lambda s: s.presign_get(KEY, expires_in=True),
    "non-ASCII disposition": lambda s: s.presign_get(
        KEY, expires_in=60, content_disposition="attachment; filename=é"
    ),
    "control character in served type": lambda s: s.presign_get(
        KEY, expires_in=60, content_type="text/\x01"
    ),
    "multipart content type": lambda s: s.create_multipart(KEY, content_type=" "),
    "empty upload id": lambda s: s.presign_part(KEY, "", 1, expires_in=60),
    "part number 0": lambda s: s.presign_part(KEY, "u1", 0, expires_in=60),
    "part number past max_parts": lambda s: s.presign_part(KEY, "u1", 11, expires_in=60),
    "part larger than max_part_size": lambda s: s.presign_part(
        KEY, "u1", 1, expires_in=60, content_length=101
    ),
    "part URL expires_in 0": lambda s: s.presign_part(KEY, "u1", 1, expires_in=0),
    "list parts of an empty upload id": lambda s: s.list_parts(KEY, ""),
    "empty part list": lambda s: s.complete_multipart(KEY, "u1", [], content_type=CT),
    "duplicate parts": lambda s: s.complete_multipart(KEY, "u1", parts(1, 1), content_type=CT),
    "part without ETag": lambda s: s.complete_multipart(
        KEY, "u1", [UploadedPart(1)], content_type=CT
    ),
    "part number past max_parts in the list": lambda s: s.complete_multipart(
        KEY, "u1", parts(1, 11), content_type=CT
    ),
    "complete with a bad content type": lambda s: s.complete_multipart(
        KEY, "u1", parts(1), content_type=""
    ),
    "abort with a bad key": lambda s: s.abort_multipart("", "u1"),
    "committed parts of an empty upload id": lambda s: s.committed_parts(KEY, upload_id=""),
    "resumable content type": lambda s: s.create_resumable(
        KEY, content_type="", size=1, origin=None
    ),
    "negative resumable size": lambda s: s.create_resumable(
        KEY, content_type=CT, size=-1, origin=None
    ),
    "origin with a newline": lambda s: s.create_resumable(
        KEY, content_type=CT, size=1, origin="https://a\nb"
    ),
    "status of a non-URL session": lambda s: s.resumable_status(KEY, "ftp://x/1"),
    "cancel of a non-URL session": lambda s: s.cancel_resumable(KEY, "session-1"),
    "POST key with ${filename}": lambda s: s.presign_post(
        "a/${filename}", content_type=CT, min_size=0, max_size=1, expires_in=60
    ),
    "POST min above max": lambda s: s.presign_post(
        KEY, content_type=CT, min_size=2, max_size=1, expires_in=60
    ),
    "POST over max_post_size": lambda s: s.presign_post(
        KEY, content_type=CT, min_size=0, max_size=1001, expires_in=60
    ),
    "POST header injection": lambda s: s.presign_post(
        KEY, content_type="a/b\r\nX: y", min_size=0, max_size=1, expires_in=60
    ),
    "POST expires_in past a week": lambda s: s.presign_post(
        KEY, content_type=CT, min_size=0, max_size=1, expires_in=WEEK + 1
    ),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_a_bad_argument_calls_no_hook(call: Callable[[TinyEverything], object]) -> None:
    storage = TinyEverything()
    with pytest.raises(InvalidArgument):
        call(storage)
    assert storage.calls == []


def test_a_bad_part_list_is_invalid_parts() -> None:
    storage = TinyEverything()
    for bad in ([], parts(2, 2), [UploadedPart(1)]):
        with pytest.raises(InvalidParts):
            storage.complete_multipart(KEY, "u1", bad, content_type=CT)
    assert storage.calls == []


def test_hooks_receive_the_checked_arguments() -> None:
    storage = TinyEverything()
    storage.presign_put(KEY, content_type=CT, content_length=50, expires_in=WEEK)
    storage.presign_get(KEY, expires_in=1, version="v1", content_disposition="inline")
    storage.presign_part(KEY, "u1", 10, expires_in=60, content_length=100)
    storage.create_resumable(KEY, content_type=CT, size=None, origin="https://app.example")
    storage.committed_parts(KEY)
    storage.presign_post(KEY, content_type=CT, min_size=3, max_size=1000, expires_in=WEEK)
    assert storage.calls == [
        ("_presign_put", (KEY, CT, 50, WEEK)),
        ("_presign_get", (KEY, 1, "v1", None, "inline")),
        ("_presign_part", (KEY, "u1", 10, 60, 100)),
        ("_create_resumable", (KEY, CT, None, "https://app.example")),
        ("_committed_parts", (KEY, None)),
        ("_presign_post", (KEY, CT, 3, 1000, WEEK)),
    ]


# -- capabilities ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adapter_type", "extra"),
    [
        (Tiny, frozenset()),
        (TinyMultipart, frozenset({Capability.MULTIPART_UPLOAD})),
        (TinyResumable, frozenset({Capability.RESUMABLE_UPLOAD, Capability.RESUMABLE_STATUS})),
        (TinyCommitted, frozenset({Capability.COMMITTED_PARTS})),
        (TinyPost, frozenset({Capability.PRESIGNED_POST})),
        (TinyEverything, frozenset(Capability) - BASE),
    ],
)
def test_capabilities_are_what_the_adapter_implements(
    adapter_type: type[Tiny], extra: frozenset[Capability]
) -> None:
    storage = adapter_type()
    assert storage.capabilities == BASE | extra
    assert implemented_capabilities(adapter_type) == BASE | extra
    assert capabilities_of(storage) == storage.capabilities
    assert isinstance(storage, StorageAdapter)
    assert supports_multipart(storage) is (Capability.MULTIPART_UPLOAD in extra)
    assert supports_resumable(storage) is (Capability.RESUMABLE_UPLOAD in extra)
    assert supports_committed_parts(storage) is (Capability.COMMITTED_PARTS in extra)


def test_capabilities_leave_out_what_is_withheld() -> None:
    withheld = frozenset({Capability.PRESIGNED_PUT, Capability.MULTIPART_UPLOAD})
    storage = TinyEverything(withheld=withheld)
    assert storage.capabilities == frozenset(Capability) - withheld
    assert capabilities_of(storage) == storage.capabilities
    assert not supports_multipart(storage)
    assert BaseStorage.withheld == frozenset()  # the default: offer everything implemented


WITHHELD_CALLS: dict[Capability, Callable[[TinyEverything], object]] = {
    Capability.PRESIGNED_PUT: lambda s: s.presign_put(
        KEY, content_type=CT, content_length=1, expires_in=60
    ),
    Capability.SIGNED_GET: lambda s: s.presign_get(KEY, expires_in=60),
    Capability.MULTIPART_UPLOAD: lambda s: s.create_multipart(KEY, content_type=CT),
    Capability.RESUMABLE_UPLOAD: lambda s: s.create_resumable(
        KEY, content_type=CT, size=1, origin=None
    ),
    Capability.PRESIGNED_POST: lambda s: s.presign_post(
        KEY, content_type=CT, min_size=0, max_size=1, expires_in=60
    ),
}


@pytest.mark.parametrize("capability", WITHHELD_CALLS)
def test_a_withheld_capability_raises_upload_unsupported(capability: Capability) -> None:
    storage = TinyEverything(withheld=frozenset({capability}))
    with pytest.raises(UploadUnsupported) as caught:
        WITHHELD_CALLS[capability](storage)
    assert caught.value.capability == capability
    assert caught.value.storage == "tiny"
    assert storage.calls == []
    WITHHELD_CALLS[capability](TinyEverything())  # offered, the same call works


def test_presign_part_of_a_withheld_multipart_is_unsupported() -> None:
    storage = TinyEverything(withheld=frozenset({Capability.MULTIPART_UPLOAD}))
    with pytest.raises(UploadUnsupported):
        storage.presign_part(KEY, "u1", 1, expires_in=60)
    assert storage.calls == []


def test_an_adapter_that_forgets_a_hook_cannot_be_built() -> None:
    class NoSignedGet(BaseStorage):
        backend = "partial"

        def _head(self, key: str) -> HeadResult:
            return HeadResult(size=0)

        def _read_range(self, key: str, start: int, length: int, *, version: str | None) -> bytes:
            return b""

        def _delete(self, key: str) -> None:
            pass

        def _presign_put(
            self, key: str, *, content_type: str, content_length: int | None, expires_in: int
        ) -> PresignedRequest:
            return PresignedRequest(url="https://x/", method="PUT")

    class NoHooks(Tiny, BaseResumableStorage):
        pass

    for incomplete in (NoSignedGet, TinyMultipartHooks, NoHooks):
        with pytest.raises(TypeError, match="abstract"):
            incomplete()


# -- reads -----------------------------------------------------------------------------------------


def test_a_zero_length_read_calls_only_head() -> None:
    storage = Tiny()
    storage.objects[KEY] = (b"abcdef", CT)
    assert storage.read_range(KEY, 2, 0) == b""
    assert storage.hooks() == ["_head"]
    with pytest.raises(StorageNotFound):
        storage.read_range("kit/missing", 0, 0)
    with pytest.raises(StorageConflict):
        storage.read_range(KEY, 0, 0, version="v999")
    assert storage.read_range(KEY, 0, 0, version="v6") == b""


def test_a_read_is_trimmed_to_its_length() -> None:
    storage = Tiny()
    storage.objects[KEY] = (b"abcdef", CT)
    assert storage.read_range(KEY, 1, 2) == b"bc"
    assert storage.calls == [("_read_range", (KEY, 1, 2, None))]


def test_a_read_past_the_end_is_empty_after_a_head() -> None:
    storage = Tiny()
    storage.objects[KEY] = (b"abcdef", CT)
    assert storage.read_range(KEY, 6, 10) == b""
    assert storage.hooks() == ["_read_range", "_head"]
    assert storage.read_range(KEY, 60, 1, version="v6") == b""
    with pytest.raises(StorageConflict):
        storage.read_range(KEY, 60, 1, version="v1")


def test_a_read_past_the_end_of_an_object_gone_meanwhile_is_not_found() -> None:
    storage = Tiny()
    storage.raises["_read_range"] = RangeNotSatisfiable()
    with pytest.raises(StorageNotFound):
        storage.read_range(KEY, 10, 1)
    assert storage.hooks() == ["_read_range", "_head"]


# -- deleting, aborting, cancelling what is gone ---------------------------------------------------


@pytest.mark.parametrize(
    ("hook", "call"),
    [
        ("_delete", lambda s: s.delete(KEY)),
        ("_abort_multipart", lambda s: s.abort_multipart(KEY, "u1")),
        ("_cancel_resumable", lambda s: s.cancel_resumable(KEY, SESSION)),
    ],
)
def test_removing_what_is_gone_succeeds_other_errors_do_not(
    hook: str, call: Callable[[TinyEverything], object]
) -> None:
    storage = TinyEverything()
    storage.raises[hook] = StorageNotFound("gone")
    call(storage)
    assert storage.hooks() == [hook]
    storage.raises[hook] = StorageError("the backend failed")
    with pytest.raises(StorageError, match="the backend failed"):
        call(storage)


def test_delete_removes_an_object() -> None:
    storage = Tiny()
    storage.objects[KEY] = (b"x", CT)
    storage.delete(KEY)
    assert KEY not in storage.objects


# -- parts -----------------------------------------------------------------------------------------


def test_parts_are_sorted_before_complete() -> None:
    storage = TinyMultipart()
    given: Sequence[UploadedPart] = tuple(parts(3, 1, 2))
    storage.complete_multipart(KEY, "u1", given, content_type=CT)
    assert storage.calls == [("_complete_multipart", (KEY, "u1", parts(1, 2, 3), CT))]


def test_listed_parts_are_sorted() -> None:
    listed = TinyMultipart().list_parts(KEY, "u1")
    assert [part.part_number for part in listed] == [1, 2, 3]


def test_parts_need_no_etag_where_the_backend_does_not() -> None:
    class Blocks(TinyMultipart):
        @property
        def part_limits(self) -> PartLimits:
            return PartLimits(1, 100, 10, 1000, etag_required=False)

    storage = Blocks()
    storage.complete_multipart(KEY, "u1", [UploadedPart(2), UploadedPart(1)], content_type=CT)
    assert storage.calls[0][1][2] == [UploadedPart(1), UploadedPart(2)]


# -- capabilities_of on plain protocol implementations (no kit) ------------------------------------


class PlainBase:
    """The base protocol only, declaring more than it implements."""

    backend = "plain"
    capabilities = frozenset({Capability.HEAD, Capability.MULTIPART_UPLOAD})

    def head(self, key: str) -> HeadResult:
        return HeadResult(size=0)

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        return b""

    def delete(self, key: str) -> None:
        pass

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest:
        return PresignedRequest(url="https://x/", method="GET")

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        return PresignedRequest(url="https://x/", method="PUT")

    def close(self) -> None:
        pass


class PlainHalfMultipart(PlainBase):
    """Multipart without abort: not multipart at all."""

    @property
    def part_limits(self) -> PartLimits:
        return LIMITS

    def create_multipart(self, key: str, *, content_type: str) -> MultipartUpload:
        return MultipartUpload(upload_id="u")

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
    ) -> PresignedRequest:
        return PresignedRequest(url="https://x/", method="PUT")

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        return []

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        pass


def test_a_plain_adapter_offers_only_what_it_declares_and_implements() -> None:
    for plain in (PlainBase(), PlainHalfMultipart()):
        assert isinstance(plain, StorageAdapter)
        assert capabilities_of(plain) == {Capability.HEAD}
        assert not supports_multipart(plain)
        assert not supports_resumable(plain)
        assert not supports_committed_parts(plain)


def test_the_memory_fake_offers_what_it_is_given() -> None:
    memory = MemoryStorage(frozenset({Capability.HEAD, Capability.MULTIPART_UPLOAD}))
    assert implemented_capabilities(MemoryStorage) == frozenset(Capability)
    assert capabilities_of(memory) == {Capability.HEAD, Capability.MULTIPART_UPLOAD}
    assert supports_multipart(memory)
    assert not supports_resumable(memory)
    assert not supports_committed_parts(memory)
    with pytest.raises(UploadUnsupported):
        memory.committed_parts(KEY)
    assert supports_committed_parts(MemoryStorage(frozenset(Capability)))
