"""The plugin is discovered through the ``rindle`` entry point; its options are validated."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from typing import Any

import pytest

from rindle_core import ConfigurationError
from rindle_core.plugins import build_storage, make_plugin_manager, storage_factories
from rindle_s3 import S3Storage, create_storage

CREDS = {"aws_access_key_id": "AKIDXXXXXXXXXXXXXXXX", "aws_secret_access_key": "secret"}


def test_the_entry_point_is_installed() -> None:
    eps = importlib.metadata.entry_points(group="rindle")
    assert [ep.value for ep in eps if ep.name == "s3"] == ["rindle_s3._plugin"]
    assert importlib.metadata.distribution("rindle-s3").entry_points.select(group="rindle")


def test_storage_factories_contain_s3_from_the_entry_point() -> None:
    pm = make_plugin_manager(load_entrypoints=True)
    factories = storage_factories(pm)
    assert factories["s3"] is create_storage
    assert pm.get_plugin("s3") is not None  # registered under the entry point's name


def test_without_entry_points_there_is_no_s3() -> None:
    assert "s3" not in storage_factories(make_plugin_manager(load_entrypoints=False))


def test_discovered_in_a_fresh_interpreter_with_the_allow_list() -> None:
    """Only rindle-s3 loads (RINDLE_LOAD_PLUGINS), and it is enough to build an s3 storage."""
    code = (
        "from rindle_core.plugins import build_storage, storage_factories\n"
        "names = sorted(storage_factories())\n"
        "storage = build_storage('s3', {'bucket': 'b', 'region': 'eu-west-1',"
        " 'aws_access_key_id': 'AKIDXXXXXXXXXXXXXXXX', 'aws_secret_access_key': 's'})\n"
        "print(names, type(storage).__module__, storage.backend)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["RINDLE_LOAD_PLUGINS"] = "rindle-s3"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'s3'" in out.stdout
    assert "'gcs'" not in out.stdout and "'azure'" not in out.stdout
    assert "rindle_s3._adapter s3" in out.stdout


def test_build_storage_from_a_config_table() -> None:
    storage = build_storage(
        "s3",
        {
            "type": "s3",
            "bucket": "uploads",
            "region": "eu-west-1",
            "addressing_style": "virtual",
            **CREDS,
        },
        pm=make_plugin_manager(),
    )
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.region) == ("uploads", "eu-west-1")
    assert storage.object_url("a b") == "https://uploads.s3.eu-west-1.amazonaws.com/a%20b"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({}, "bucket"),
        ({"bucket": ""}, "bucket"),
        ({"bucket": 3}, "bucket"),
        ({"bucket": "b", "colour": "blue"}, "colour"),
        ({"bucket": "b", "addressing_style": "sideways"}, "addressing_style"),
        ({"bucket": "b", "endpoint_url": "ftp://x"}, "endpoint_url"),
        ({"bucket": "b", "endpoint_url": ""}, "endpoint_url"),
        ({"bucket": "b", "region": 5}, "region"),
        ({"bucket": "b", "max_attempts": 0}, "max_attempts"),
        ({"bucket": "b", "read_timeout": -1}, "read_timeout"),
        ({"bucket": "b", "aws_access_key_id": "AKID"}, "aws_secret_access_key"),
        (
            {"bucket": "b", "aws_access_key_id": 12, "aws_secret_access_key": "s"},
            "aws_access_key_id",
        ),
        ({"bucket": "b", "max_attempts": True}, "max_attempts"),
        ({"bucket": "b", "max_attempts": 10**400}, "max_attempts"),
        ({"bucket": "b", "max_attempts": 2.0}, "max_attempts"),
        ({"bucket": "b", "connect_timeout": 0}, "connect_timeout"),
        ({"bucket": "b", "connect_timeout": float("nan")}, "connect_timeout"),
        ({"bucket": "b", "connect_timeout": float("inf")}, "connect_timeout"),
        ({"bucket": "b", "connect_timeout": True}, "connect_timeout"),
        ({"bucket": "b", "connect_timeout": "5"}, "connect_timeout"),
        ({"bucket": "b", "connect_timeout": 10**400}, "connect_timeout"),
        ({"bucket": "b", "read_timeout": float("nan")}, "read_timeout"),
        ({"bucket": "b", "read_timeout": 3601}, "read_timeout"),
        ({"bucket": "b", "read_timeout": -float("inf")}, "read_timeout"),
        ({"bucket": "b", "profile": "no-such-profile"}, "profile"),
        ({"bucket": "arn:aws:s3:us-east-1:123456789012:accesspoint/ap"}, "bucket"),
        ({"bucket": "fast--usw2-az1--x-s3"}, "bucket"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], named: str) -> None:
    full = {**CREDS, **options} if "aws_access_key_id" not in options else options
    with pytest.raises(ConfigurationError, match=f"'{named}'"):
        create_storage(full)


def test_missing_credentials_fail_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="no AWS credentials"):
        create_storage(bucket="b")


def test_credentials_and_region_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    storage = create_storage(bucket="b-from-env", addressing_style="path")
    assert storage.region == "ap-southeast-2"
    url = storage.presign_get("k", expires_in=60).url
    assert "AKIDFROMENVIRONMENT0%2F" in url and "ap-southeast-2%2Fs3" in url
    assert "X-Amz-Security-Token=env-token" in url
    assert url.startswith("https://s3.ap-southeast-2.amazonaws.com/b-from-env/k?")


def test_credentials_from_a_named_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[uploads]\naws_access_key_id = AKIDFROMPROFILE00000\naws_secret_access_key = p\n"
    )
    config = tmp_path / "config"
    config.write_text("[profile uploads]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    storage = create_storage(bucket="b", profile="uploads")
    assert storage.region == "eu-central-1"
    assert "AKIDFROMPROFILE00000%2F" in storage.presign_get("k", expires_in=60).url


def test_default_region_is_us_east_1() -> None:
    assert create_storage(bucket="b", **CREDS).region == "us-east-1"


def test_timeouts_and_retry_budget_are_options() -> None:
    storage = create_storage(
        bucket="b", connect_timeout=1.5, read_timeout=7, max_attempts=5, **CREDS
    )
    config = storage.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 7)
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}


def test_from_options_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match="create_storage"):
        storage = S3Storage.from_options(bucket="b", region="eu-west-1", **CREDS)
    assert (storage.bucket, storage.region) == ("b", "eu-west-1")
    with (
        pytest.warns(DeprecationWarning, match="create_storage"),
        pytest.raises(ConfigurationError, match="'bucket'"),
    ):
        S3Storage.from_options(buckit="b", **CREDS)
