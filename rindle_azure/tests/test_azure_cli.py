"""``rindle upload --strategy put|multipart`` against Azurite, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from rindle_core.cli import cli

if TYPE_CHECKING:
    from conftest import Azurite

MiB = 1024 * 1024


@pytest.fixture
def configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azurite: Azurite, container_name: str
) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("RINDLE_CONFIG", "RINDLE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # The cloud's own convention: the connection string comes from the environment.
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    (tmp_path / "rindle.toml").write_text(
        'database_url = "sqlite:///rindle.db"\n'
        "[storage.blobs]\n"
        'type = "azure"\n'
        f'container = "{container_name}"\n'
        "create_container = true\n"
        "[profiles.media]\n"
        'storage = "blobs"\n'
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return runner


def _file(path: Path, size: int) -> Path:
    path.write_bytes((bytes(range(256)) * (size // 256 + 1))[:size])
    return path


def _upload(runner: CliRunner, *args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(cli, ["upload", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_put(configured: CliRunner, tmp_path: Path, azurite: Azurite, container_name: str) -> None:
    path = _file(tmp_path / "a.bin", 300_000)
    data = _upload(configured, str(path), "--profile", "media")
    assert data["session"]["upload_strategy"] == "presigned_put"
    assert data["asset"]["state"] == "available"
    blob = azurite.service().get_blob_client(container_name, data["asset"]["storage_key"])
    assert blob.download_blob().readall() == path.read_bytes()


def test_multipart_blocks_in_parallel(
    configured: CliRunner, tmp_path: Path, azurite: Azurite, container_name: str
) -> None:
    path = _file(tmp_path / "big.bin", 5 * MiB + 123)
    data = _upload(
        configured,
        str(path),
        "--profile",
        "media",
        "--strategy",
        "multipart",
        "--part-size",
        str(1 * MiB),
        "--concurrency",
        "3",
    )
    assert data["session"]["upload_strategy"] == "multipart"
    assert data["session"]["state"] == "completed"
    # Block URLs (sp=w) could still rewrite the blob: promotion waits them out.
    assert data["asset"]["state"] == "validating"
    assert data["session"]["urls_expire_at"] is not None
    assert data["asset"]["byte_size"] == path.stat().st_size
    blob = azurite.service().get_blob_client(container_name, data["asset"]["storage_key"])
    assert blob.download_blob().readall() == path.read_bytes()
    assert azurite.account_key not in json.dumps(data)


def test_resumable_is_refused_clearly(configured: CliRunner, tmp_path: Path) -> None:
    path = _file(tmp_path / "a.bin", 10)
    result = configured.invoke(
        cli, ["upload", str(path), "--profile", "media", "--strategy", "resumable"]
    )
    assert result.exit_code == 1
    assert "UploadUnsupported" in result.output and "resumable_upload" in result.output
