"""The ``gcs`` factory's options: validation, credentials, endpoints, discovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rindle_core import Capability, ConfigurationError
from rindle_core.plugins import build_storage, make_plugin_manager, storage_factories
from rindle_core.storage import capabilities_of, supports_committed_parts, supports_multipart
from rindle_gcs import GCSSettings, GCSStorage, create_storage

ALL = frozenset(
    {
        Capability.RESUMABLE_UPLOAD,
        Capability.RESUMABLE_STATUS,
        Capability.PRESIGNED_PUT,
        Capability.PRESIGNED_POST,
        Capability.HEAD,
        Capability.RANGE_READ,
        Capability.DELETE,
        Capability.SIGNED_GET,
    }
)


@pytest.fixture(autouse=True)
def _no_ambient_google_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's real credentials or emulator setting."""
    for name in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({}, "'bucket'"),
        ({"bucket": "Bad_Bucket"}, "'bucket'"),
        ({"bucket": "a"}, "'bucket'"),
        ({"bucket": 3}, "'bucket'"),
        ({"bucket": "ok-bucket\n"}, "'bucket'"),
        ({"bucket": "ok-bucket", "region": "x"}, "'region'"),
        ({"bucket": "ok-bucket", "type": "s3"}, "'type'"),
        ({"bucket": "ok-bucket", "timeout": 0}, "'timeout'"),
        ({"bucket": "ok-bucket", "timeout": "5"}, "'timeout'"),
        ({"bucket": "ok-bucket", "retry_timeout": -1}, "'retry_timeout'"),
        ({"bucket": "ok-bucket", "timeout": float("nan")}, "'timeout'"),
        ({"bucket": "ok-bucket", "connect_timeout": 0}, "'connect_timeout'"),
        ({"bucket": "ok-bucket", "connect_timeout": True}, "'connect_timeout'"),
        ({"bucket": "ok-bucket", "connect_timeout": float("inf")}, "'connect_timeout'"),
        ({"bucket": "ok-bucket", "connect_timeout": 10**400}, "'connect_timeout'"),
        ({"bucket": "ok-bucket", "read_timeout": float("nan")}, "'read_timeout'"),
        ({"bucket": "ok-bucket", "read_timeout": -0.5}, "'read_timeout'"),
        ({"bucket": "ok-bucket", "read_timeout": "30"}, "'read_timeout'"),
        ({"bucket": "ok-bucket", "read_timeout": 7201}, "'read_timeout'"),
        ({"bucket": "ok-bucket", "retry_timeout": float("inf")}, "'retry_timeout'"),
        ({"bucket": "ok-bucket", "retry_timeout": 10**30}, "'retry_timeout'"),
        ({"bucket": "ok-bucket", "timeout": 5, "read_timeout": 5}, "'timeout'"),
        ({"bucket": "ok-bucket", "endpoint_url": "ftp://x"}, "'endpoint_url'"),
        ({"bucket": "ok-bucket", "endpoint_url": "http://u:p@h"}, "'endpoint_url'"),
        ({"bucket": "ok-bucket", "anonymous": "yes"}, "'anonymous'"),
        ({"bucket": "ok-bucket", "credentials_file": "/nonexistent/sa.json"}, "'credentials_file'"),
        ({"bucket": "ok-bucket", "project": ""}, "'project'"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        create_storage(**options)


def test_waits_are_bounded_by_default() -> None:
    settings = GCSSettings.from_options({"bucket": "ok-bucket"})

    assert 0 < settings.connect_timeout <= 10
    assert 0 < settings.read_timeout <= 30
    assert 0 < settings.retry_timeout <= 30
    assert settings.timeouts == (settings.connect_timeout, settings.read_timeout)


def test_timeouts_are_configurable() -> None:
    settings = GCSSettings.from_options(
        {"bucket": "ok-bucket", "connect_timeout": 2, "read_timeout": 7.5, "retry_timeout": 0}
    )

    assert settings.timeouts == (2.0, 7.5)
    assert settings.retry_timeout == 0.0


def test_the_seed_timeout_option_still_sets_the_read_timeout() -> None:
    settings = GCSSettings.from_options({"bucket": "ok-bucket", "timeout": 12})

    assert settings.read_timeout == 12.0
    assert settings.timeout == 12.0


def test_a_malformed_key_file_is_reported_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"type": "service_account", "private_key": "SECRET-PEM-MATERIAL"}))

    with pytest.raises(ConfigurationError, match="'credentials_file'") as info:
        create_storage(bucket="ok-bucket", credentials_file=str(path))

    assert "SECRET-PEM-MATERIAL" not in str(info.value)
    assert info.value.__cause__ is None


def test_no_credentials_at_all_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_adc(**kwargs: Any) -> Any:
        raise DefaultCredentialsError("none")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(ConfigurationError, match="Application Default Credentials"):
        create_storage(bucket="ok-bucket")


def test_a_key_file_in_production_mode_signs_and_authenticates(service_account_key: Path) -> None:
    storage = create_storage(bucket="ok-bucket", credentials_file=str(service_account_key))

    assert storage.capabilities == ALL
    assert storage.bucket_name == "ok-bucket"
    settings = GCSSettings.from_options(
        {"bucket": "ok-bucket", "credentials_file": str(service_account_key)}
    )
    assert settings.endpoint == "https://storage.googleapis.com"
    assert settings.anonymous is False


def test_application_default_credentials_from_a_key(
    monkeypatch: pytest.MonkeyPatch, service_account_key: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_key))

    storage = create_storage(bucket="ok-bucket")

    assert storage.capabilities == ALL


def test_emulator_mode_without_a_key_cannot_sign() -> None:
    storage = create_storage(bucket="ok-bucket", endpoint_url="http://127.0.0.1:1")

    assert storage.capabilities == ALL - {
        Capability.PRESIGNED_PUT,
        Capability.PRESIGNED_POST,
        Capability.SIGNED_GET,
    }


def test_emulator_mode_signs_with_a_key_file(service_account_key: Path) -> None:
    storage = create_storage(
        bucket="ok-bucket",
        endpoint_url="http://127.0.0.1:1/",
        credentials_file=str(service_account_key),
    )

    assert storage.capabilities == ALL
    request = storage.presign_get("k", expires_in=60)
    assert request.url.startswith("http://127.0.0.1:1/ok-bucket/k?")


def test_storage_emulator_host_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "localhost:4443")

    settings = GCSSettings.from_options({"bucket": "ok-bucket"})

    assert settings.endpoint == "http://localhost:4443"
    assert settings.anonymous is True


def test_endpoint_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "localhost:4443")

    settings = GCSSettings.from_options({"bucket": "ok-bucket", "endpoint_url": "http://h:1"})

    assert settings.endpoint == "http://h:1"


def test_repr_shows_no_credentials(service_account_key: Path) -> None:
    storage = create_storage(bucket="ok-bucket", credentials_file=str(service_account_key))
    key = json.loads(service_account_key.read_text())

    text = repr(storage)

    assert text == "GCSStorage(bucket='ok-bucket', signed-urls)"
    assert key["private_key_id"] not in text


def test_multipart_and_committed_parts_are_not_implemented(service_account_key: Path) -> None:
    storage = create_storage(bucket="ok-bucket", credentials_file=str(service_account_key))

    assert capabilities_of(storage) == storage.capabilities == ALL
    assert not supports_multipart(storage)
    assert not supports_committed_parts(storage)
    for name in ("part_limits", "create_multipart", "abort_multipart", "committed_parts"):
        assert not hasattr(storage, name), name


def test_the_plugin_is_discovered_through_its_entry_point(service_account_key: Path) -> None:
    from importlib.metadata import entry_points

    (entry,) = [ep for ep in entry_points(group="rindle") if ep.name == "gcs"]
    assert entry.value == "rindle_gcs._plugin"

    pm = make_plugin_manager()
    assert storage_factories(pm)["gcs"] is create_storage
    storage = build_storage(
        "gcs", {"bucket": "ok-bucket", "credentials_file": str(service_account_key)}, pm=pm
    )
    assert isinstance(storage, GCSStorage)
    assert storage.backend == "gcs"
