"""The ``memory`` plugin: entry point, options, withheld multipart, secrets, close."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest
from rindle_core import ConfigurationError, InvalidParts, StorageError, UploadUnsupported
from rindle_core.plugins import build_storage, follows_convention, storage_factories
from rindle_core.storage import Capability, UploadedPart, supports_multipart
from rindle_core.testing import assert_no_secrets, payload, secret_query_values, unique_key

from rindle_memory import MemoryServer, MemoryStorage, create_storage


def test_the_entry_point_registers_the_factory() -> None:
    (entry_point,) = entry_points(group="rindle", name="memory")
    assert entry_point.value == "rindle_memory._plugin"
    assert storage_factories()["memory"] is create_storage
    assert follows_convention(create_storage)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"buckt": "b"}, "unknown option 'buckt' (did you mean 'bucket'?)"),
        ({"bucket": None}, "option 'bucket' is required"),
        ({"endpoint_url": "ftp://x"}, "option 'endpoint_url' must be an http(s) URL"),
        ({"timeout": "10"}, "option 'timeout' must be a number of seconds"),
        ({"secret": None}, "option 'secret' or 'secret_file' is required"),
        ({"secret_file": "key"}, "option 'secret' and 'secret_file' exclude each other"),
    ],
)
def test_bad_options_are_named(
    server: MemoryServer, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    (tmp_path / "key").write_text("x")
    with pytest.raises(ConfigurationError) as caught:
        build_storage("memory", {**server.options(), **options}, name="media", base_dir=tmp_path)
    assert str(caught.value).startswith(f"storage 'media' (memory): {message}")
    assert server.secret not in str(caught.value)


def test_secret_file_is_relative_to_base_dir(server: MemoryServer, tmp_path: Path) -> None:
    (tmp_path / "memory.key").write_text(server.secret + "\n")
    options = {**server.options("contract"), "secret": None, "secret_file": "memory.key"}
    storage = create_storage(options, base_dir=tmp_path)
    storage.delete(unique_key())  # a signed call the server accepts


def test_a_wrong_secret_is_a_configuration_error_not_a_missing_object(
    server: MemoryServer,
) -> None:
    storage = MemoryStorage(server.url, "contract", secret="not-the-server-secret")
    with pytest.raises(StorageError, match="HTTP 403 SignatureDoesNotMatch") as caught:
        storage.head(unique_key())
    assert type(caught.value) is StorageError


def test_multipart_false_withholds_multipart(server: MemoryServer, tmp_path: Path) -> None:
    options = {**server.options("contract"), "multipart": False}
    storage = create_storage(options, base_dir=tmp_path)
    assert Capability.MULTIPART_UPLOAD not in storage.capabilities
    assert Capability.PRESIGNED_PUT in storage.capabilities
    assert not supports_multipart(storage)
    with pytest.raises(UploadUnsupported):
        storage.create_multipart(unique_key(), content_type="image/png")


def test_only_the_last_part_may_be_small(server: MemoryServer) -> None:
    storage = MemoryStorage(server.url, "contract", secret=server.secret)
    key = unique_key()
    upload = storage.create_multipart(key, content_type="image/png")
    parts = []
    with httpx.Client() as client:
        for number in (1, 2):
            request = storage.presign_part(key, upload.upload_id, number, expires_in=60)
            response = client.put(request.url, content=payload(10, seed=number))
            parts.append(UploadedPart(number, response.headers["ETag"], 10))
    with pytest.raises(InvalidParts, match="EntityTooSmall"):
        storage.complete_multipart(key, upload.upload_id, parts, content_type="image/png")


def test_reprs_and_logs_show_no_secret(
    server: MemoryServer, caplog: pytest.LogCaptureFixture
) -> None:
    storage = MemoryStorage(server.url, "contract", secret=server.secret)
    request = storage.presign_get(unique_key(), expires_in=60)
    with caplog.at_level(logging.DEBUG):
        storage.delete(unique_key())  # httpx logs the signed URL of the call
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "HTTP Request" in logged
    secrets = [server.secret, *secret_query_values(request)]
    for text in (repr(storage), repr(server), repr(request), logged):
        assert_no_secrets(text, secrets)
    assert "signature=" not in logged


def test_close_is_idempotent(server: MemoryServer) -> None:
    storage = MemoryStorage(server.url, "contract", secret=server.secret)
    storage.close()
    storage.close()
