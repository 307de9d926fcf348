"""One value type per concept: frozen, hashable, and the old names still work (deprecated)."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import attrs
import pytest

import rindle_core
from rindle_core import (
    Asset,
    AssetState,
    Job,
    JobState,
    MultipartResult,
    MultipartUpload,
    PresignedRequest,
    ResumableResult,
    ResumableStatus,
    ResumableStatusResult,
    ResumableUpload,
    SessionState,
    SignBatchResult,
    UploadedPart,
    UploadSession,
    models,
    storage,
)
from rindle_core._decisions import normalise_parts
from rindle_core.storage import PartLimits

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
LIMITS = PartLimits(min_part_size=1, max_part_size=10, max_parts=100, max_object_size=1000)


def session(**changes: object) -> UploadSession:
    values: dict[str, object] = {
        "id": "s1",
        "asset_id": "a1",
        "profile": "p",
        "storage": "local",
        "state": SessionState.SIGNED,
        "storage_key": "p/a1/x.bin",
        "upload_strategy": "multipart",
        "content_type": "application/octet-stream",
        "declared_size": 10,
        "expires_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        "remote_upload_id": "up-1",
        "session_uri": "https://storage.example/upload?upload_id=secret",
    }
    values.update(changes)
    return UploadSession(**values)  # type: ignore[arg-type]


def asset(**changes: object) -> Asset:
    values: dict[str, object] = {
        "id": "a1",
        "profile": "p",
        "state": AssetState.AVAILABLE,
        "storage_key": "p/a1/x.bin",
        "filename": "x.bin",
        "declared_content_type": "image/png",
        "content_type": "image/png",
        "byte_size": 10,
        "quarantine_reason": None,
        "created_at": NOW,
        "updated_at": NOW,
        "metadata": {"declared_size": 10, "tags": ["a", "b"], "nested": {"k": [1, 2]}},
    }
    values.update(changes)
    return Asset(**values)  # type: ignore[arg-type]


def values() -> list[object]:
    presigned = PresignedRequest("https://h/k?sig=1", "PUT", {"Content-Type": "image/png"})
    upload = MultipartUpload("up-1", {"x-ms-blob-type": "BlockBlob"}, "k", 8, 2)
    resumable = ResumableUpload("https://h/session?id=secret", "fp", NOW)
    return [
        presigned,
        upload,
        resumable,
        ResumableStatus("in_progress", 3),
        UploadedPart(1, '"etag"', 8),
        session(),
        asset(),
        Job("j1", "promote", {"asset_id": "a1"}, JobState.PENDING, 0, 10, NOW),
        MultipartResult(session(), upload),
        ResumableResult(session(upload_strategy="resumable"), resumable),
        ResumableStatusResult(session(), ResumableStatus("complete", 10)),
        SignBatchResult(session(), (presigned,)),
    ]


@pytest.mark.parametrize("value", values(), ids=lambda v: type(v).__name__)
def test_every_value_is_frozen_and_hashable(value: object) -> None:
    twin = attrs.evolve(value)  # type: ignore[misc]
    assert twin == value and hash(twin) == hash(value)
    first = attrs.fields(type(value))[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(value, first, None)


def test_mapping_fields_are_read_only_and_compare_with_dicts() -> None:
    presigned = PresignedRequest("https://h/k", "PUT", {"Content-Type": "image/png"})
    assert presigned.headers == {"Content-Type": "image/png"}
    with pytest.raises(TypeError):
        presigned.headers["Content-Type"] = "text/html"  # type: ignore[index]
    frozen = asset()
    with pytest.raises(TypeError):
        frozen.metadata["tags"] = []  # type: ignore[index]
    assert frozen.metadata["tags"] == ("a", "b")


def test_to_dict_gives_plain_json_data_back() -> None:
    data = asset().to_dict()
    assert data["metadata"] == {"declared_size": 10, "tags": ["a", "b"], "nested": {"k": [1, 2]}}
    assert json.loads(json.dumps(data))["metadata"]["nested"] == {"k": [1, 2]}


def test_the_session_uri_is_neither_compared_nor_shown() -> None:
    a = ResumableUpload("https://h/s?id=one", "fp", NOW)
    b = ResumableUpload("https://h/s?id=two", "fp", NOW)
    assert a == b and hash(a) == hash(b)
    assert "id=one" not in repr(a)


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        (rindle_core, "MultipartInfo", MultipartUpload),
        (rindle_core, "MultipartInit", MultipartUpload),
        (rindle_core, "ResumableInfo", ResumableUpload),
        (rindle_core, "ResumableInit", ResumableUpload),
        (models, "MultipartInfo", MultipartUpload),
        (models, "ResumableInfo", ResumableUpload),
        (storage, "MultipartInit", MultipartUpload),
        (storage, "ResumableInit", ResumableUpload),
    ],
)
def test_merged_type_names_still_resolve_with_a_warning(
    module: object, old: str, new: type
) -> None:
    with pytest.warns(DeprecationWarning, match=new.__name__):
        assert getattr(module, old) is new


@pytest.mark.parametrize(
    "name",
    [
        "utcnow",
        "expiry",
        "redact_url",
        "map_exceptions",
        "describe_http_error",
        "content_range_parts",
        "choose_part_size",
    ],
)
def test_moved_helpers_resolve_from_storage_with_a_warning(name: str) -> None:
    from rindle_core import adapters

    with pytest.warns(DeprecationWarning, match=f"rindle_core.adapters.{name}"):
        assert getattr(storage, name) is getattr(adapters, name)


def test_unknown_names_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = rindle_core.NoSuchThing  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = storage.no_such_thing  # type: ignore[attr-defined]


def test_renamed_fields_keep_deprecated_properties() -> None:
    current = session()
    with pytest.warns(DeprecationWarning, match="storage_key"):
        assert current.upload_key == current.storage_key
    with pytest.warns(DeprecationWarning, match="remote_upload_id"):
        assert current.multipart_upload_id == "up-1"
    with pytest.warns(DeprecationWarning, match="storage_key"):
        assert MultipartUpload("u", storage_key="k").upload_key == "k"
    result = ResumableStatusResult(current, ResumableStatus("in_progress", 7))
    with pytest.warns(DeprecationWarning, match=r"status\.committed_bytes"):
        assert result.committed_bytes == 7
    with pytest.warns(DeprecationWarning, match=r"status\.state"):
        assert result.state == "in_progress"


def test_session_dicts_use_the_new_names() -> None:
    data = session().to_dict()
    assert data["storage_key"] == "p/a1/x.bin" and data["remote_upload_id"] == "up-1"
    assert "upload_key" not in data and "session_uri" not in data


def test_s3_wire_names_in_part_lists_work_but_are_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match="'part_number'/'etag'"):
        parts = normalise_parts(
            [{"PartNumber": 2, "ETag": '"b"'}, {"PartNumber": 1, "ETag": '"a"'}], LIMITS
        )
    assert parts == [UploadedPart(1, '"a"'), UploadedPart(2, '"b"')]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert normalise_parts([{"part_number": 1, "etag": '"a"'}], LIMITS) == [
            UploadedPart(1, '"a"')
        ]
