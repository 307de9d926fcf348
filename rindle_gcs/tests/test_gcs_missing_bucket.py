"""A missing bucket is a configuration error, never a missing object.

Cleanup treats ``StorageNotFound`` from ``delete`` as done and ``rindle
doctor`` treats it as "bucket OK", so a deleted or misspelt bucket must not
look like a missing object. GCS names the bucket in its 404 body; the
emulators do not, so there the adapter asks the bucket itself (a one-item
object listing) and caches a positive answer briefly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from google.api_core import exceptions as api_exceptions

from rindle_core import StorageError, StorageNotFound
from rindle_gcs import GCSStorage, create_storage
from rindle_gcs._errors import NotFoundKind, not_found_kind

if TYPE_CHECKING:
    from conftest import Emulator

PutObject = Callable[[GCSStorage, str, bytes, str], None]


@pytest.fixture(params=["gcs_emulator", "fake_gcs"])
def emulator(request: pytest.FixtureRequest) -> Emulator:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _storage(emulator: Emulator, bucket: str, key: Path, **options: Any) -> GCSStorage:
    return create_storage(
        bucket=bucket,
        endpoint_url=emulator.url,
        credentials_file=str(key),
        retry_timeout=1,
        **options,
    )


@pytest.fixture
def gone(emulator: Emulator, service_account_key: Path) -> GCSStorage:
    """A storage whose bucket was never created."""
    return _storage(emulator, f"{emulator.create_bucket()}-absent", service_account_key)


def _assert_bucket_error(call: Callable[[], object], bucket: str) -> None:
    with pytest.raises(StorageError) as info:
        call()
    assert not isinstance(info.value, StorageNotFound)
    assert f"bucket {bucket!r} does not exist" in str(info.value)
    assert info.value.__cause__ is None


def test_every_object_call_reports_the_missing_bucket(gone: GCSStorage) -> None:
    calls: list[Callable[[], object]] = [
        lambda: gone.head("k"),
        lambda: gone.read_range("k", 0, 10),
        lambda: gone.read_range("k", 0, 0),
        lambda: gone.read_range("k", 0, 10, version="123"),
        lambda: gone.delete("k"),
        lambda: gone.create_resumable("k", content_type="text/plain", size=1, origin=None),
    ]
    for call in calls:
        _assert_bucket_error(call, gone.bucket_name)


def test_a_missing_object_in_an_existing_bucket_is_still_not_found(
    emulator: Emulator, service_account_key: Path
) -> None:
    storage = _storage(emulator, emulator.create_bucket(), service_account_key)

    with pytest.raises(StorageNotFound):
        storage.head("nope")
    with pytest.raises(StorageNotFound):
        storage.read_range("nope", 0, 1)
    storage.delete("nope")


def test_a_bucket_deleted_later_is_noticed_once_the_check_is_stale(
    emulator: Emulator, service_account_key: Path
) -> None:
    now = [1000.0]
    bucket = emulator.create_bucket()
    storage = _storage(emulator, bucket, service_account_key)
    storage._bucket_check.clock = lambda: now[0]  # noqa: SLF001 - the cache's clock

    storage.delete("k")  # 404 on the object: the bucket is checked and found
    assert httpx.delete(f"{emulator.url}/storage/v1/b/{bucket}").status_code in (200, 204)
    storage.delete("k")  # within the cache: still believed to exist
    now[0] += 31.0

    _assert_bucket_error(lambda: storage.delete("k"), bucket)


# -- what decides, without a probe ---------------------------------------------------


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("GET https://x/b/o: The specified bucket does not exist.", NotFoundKind.BUCKET),
        ("GET https://x/b/o: No such object: my-bucket/k", NotFoundKind.OBJECT),
        ("GET https://x/b/o: Not Found", NotFoundKind.UNKNOWN),
        ("GET https://x/b/o: ", NotFoundKind.UNKNOWN),
    ],
)
def test_gcs_wording_names_what_is_missing(message: str, kind: NotFoundKind) -> None:
    assert not_found_kind(api_exceptions.NotFound(message)) is kind


def test_the_bucket_is_probed_only_when_the_answer_does_not_say(
    gcs_emulator: Emulator, service_account_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _storage(gcs_emulator, gcs_emulator.create_bucket(), service_account_key)
    probes: list[str] = []
    original = storage._bucket_check.probe  # noqa: SLF001

    def counting() -> bool:
        probes.append("probe")
        return original()

    monkeypatch.setattr(storage._bucket_check, "probe", counting)  # noqa: SLF001
    check = storage._bucket_check.check_not_found  # noqa: SLF001

    check("head", api_exceptions.NotFound("Not Found"))  # says neither: ask the bucket
    assert probes == ["probe"]
    check("head", api_exceptions.NotFound("Not Found"))  # the bucket was just seen
    check("head", api_exceptions.NotFound("No such object: b/k"))
    with pytest.raises(StorageError, match="does not exist"):
        check("head", api_exceptions.NotFound("The specified bucket does not exist."))
    assert probes == ["probe"]


def test_gcs_wording_decides_without_any_request(
    gcs_emulator: Emulator, service_account_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _storage(gcs_emulator, gcs_emulator.create_bucket(), service_account_key)

    def no_probe() -> bool:
        raise AssertionError("the wording alone decides")

    monkeypatch.setattr(storage._bucket_check, "probe", no_probe)  # noqa: SLF001
    check = storage._bucket_check.check_not_found  # noqa: SLF001

    with pytest.raises(StorageError, match="does not exist"):
        check("head", api_exceptions.NotFound("The specified bucket does not exist."))
    check("head", api_exceptions.NotFound("No such object: b/k"))


# -- rindle doctor ------------------------------------------------------------------


@pytest.fixture
def doctor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_account_key: Path
) -> Callable[[str, str], dict[str, Any]]:
    """``doctor(endpoint, bucket)``: the storage check of ``rindle doctor --json``."""
    from click.testing import CliRunner

    from rindle_core.cli import cli

    monkeypatch.chdir(tmp_path)
    for name in ("RINDLE_CONFIG", "RINDLE_DATABASE_URL", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)

    def run(endpoint: str, bucket: str) -> dict[str, Any]:
        (tmp_path / "rindle.toml").write_text(
            'database_url = "sqlite:///rindle.db"\n'
            f'[storage.gcs]\ntype = "gcs"\nbucket = "{bucket}"\n'
            f'endpoint_url = "{endpoint}"\ncredentials_file = "{service_account_key}"\n'
            "retry_timeout = 1\n[profiles.media]\n"
        )
        result = CliRunner().invoke(cli, ["doctor", "--json"], catch_exceptions=False)
        checks = json.loads(result.stdout)["checks"]
        (check,) = [c for c in checks if c["name"] == "storage gcs"]
        return dict(check)

    return run


def test_doctor_reports_a_missing_bucket(
    doctor: Callable[[str, str], dict[str, Any]], gcs_emulator: Emulator
) -> None:
    check = doctor(gcs_emulator.url, "rindle-never-created-bucket")

    assert check["status"] == "fail"
    assert "bucket 'rindle-never-created-bucket' does not exist" in check["detail"]


def test_doctor_passes_an_existing_bucket(
    doctor: Callable[[str, str], dict[str, Any]], gcs_emulator: Emulator
) -> None:
    check = doctor(gcs_emulator.url, gcs_emulator.create_bucket())

    assert check["status"] == "ok"
