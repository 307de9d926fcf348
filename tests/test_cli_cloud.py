"""``rindle upload`` through the cloud plugins, against real servers on 127.0.0.1.

S3 (moto's server, in a thread) for ``put`` and ``multipart``; GCS
(gcp-storage-emulator, as a subprocess) for ``resumable``. Each is started
once per test process; every test gets its own bucket. A server that cannot
start fails the tests that need it.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result

pytest.importorskip("rindle_s3", reason="rindle-s3 is not installed")
pytest.importorskip("rindle_gcs", reason="rindle-gcs is not installed")

Run = Callable[..., Result]
MiB = 1024 * 1024


def configure(tmp_path: Path, storage: str, run: Run) -> None:
    (tmp_path / "rindle.toml").write_text(
        'database_url = "sqlite:///rindle.db"\n' + storage + "[profiles.media]\n"
    )
    run("db", "upgrade")


def sized_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        block = bytes(range(256)) * 4096
        while size > 0:
            fh.write(block[: min(size, len(block))])
            size -= len(block)
    return path


# -- S3 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # it would log presigned URLs
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
        _, port = server.get_host_and_port()
        url = f"http://127.0.0.1:{port}"
        httpx.get(url + "/moto-api/", timeout=10).raise_for_status()
    except Exception as exc:
        pytest.fail(f"could not start the moto S3 server on 127.0.0.1: {exc!r}", pytrace=False)
    yield url
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh bucket; credentials come from AWS's own environment variables."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIARINDLECLITEST000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cli/test/secret/never-printed")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    name = f"rindle-cli-{uuid.uuid4().hex[:16]}"
    response = httpx.put(f"{s3_endpoint}/{name}")  # moto accepts an unsigned CreateBucket
    assert response.status_code == 200, response.text
    return name


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def s3_table(endpoint: str, bucket: str) -> str:
    return (
        f'[storage.s3]\ntype = "s3"\nbucket = "{bucket}"\nendpoint_url = "{endpoint}"\n'
        'region = "us-east-1"\naddressing_style = "path"\n'
    )


def test_s3_put(run: Run, tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> None:
    configure(tmp_path, s3_table(s3_endpoint, s3_bucket), run)
    sized_file(tmp_path / "a.bin", 300_000)
    data = json.loads(run("upload", "a.bin", "--json").stdout)
    assert data["session"]["upload_strategy"] == "presigned_put"
    assert data["asset"]["state"] == "available"
    assert data["asset"]["byte_size"] == 300_000
    stored = s3_client(s3_endpoint).get_object(Bucket=s3_bucket, Key=data["asset"]["storage_key"])
    assert stored["Body"].read() == (tmp_path / "a.bin").read_bytes()


def test_s3_multipart_in_parallel_parts(
    run: Run, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    configure(tmp_path, s3_table(s3_endpoint, s3_bucket), run)
    sized_file(tmp_path / "big.bin", 11 * MiB)
    result = run(
        "upload",
        "big.bin",
        "--strategy",
        "multipart",
        "--part-size",
        "5MiB",
        "--concurrency",
        "3",
        "--json",
    )
    data = json.loads(result.stdout)
    assert data["session"]["upload_strategy"] == "multipart"
    assert data["session"]["state"] == "completed"
    assert data["session"]["part_size"] == 5 * MiB
    assert data["asset"]["state"] == "available"
    assert data["asset"]["byte_size"] == 11 * MiB
    client = s3_client(s3_endpoint)
    head = client.head_object(Bucket=s3_bucket, Key=data["asset"]["storage_key"])
    assert head["ETag"].endswith('-3"')  # three parts: 5 + 5 + 1 MiB
    assert "cli/test/secret" not in result.output


def test_s3_doctor(run: Run, tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> None:
    configure(tmp_path, s3_table(s3_endpoint, s3_bucket), run)
    checks = {c["name"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["storage s3"]["status"] == "ok"
    assert "multipart_upload" in checks["storage s3"]["detail"]


def test_s3_doctor_with_an_unreachable_endpoint(run: Run, tmp_path: Path, s3_bucket: str) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    table = s3_table(f"http://127.0.0.1:{port}", s3_bucket) + "max_attempts = 1\n"
    configure(tmp_path, table, run)
    data = json.loads(run("doctor", "--json", code=1).stdout)
    (check,) = [c for c in data["checks"] if c["name"] == "storage s3"]
    assert check["status"] == "fail"


# -- GCS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("gcs") / "emulator.log"
    argv = [
        sys.executable,
        "-m",
        "gcp_storage_emulator",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
        "--quiet",
    ]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(
                f"gcp-storage-emulator did not start on {url}: "
                f"{log.read_text(errors='replace')[-1000:]}",
                pytrace=False,
            )
        time.sleep(0.1)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def service_account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info: dict[str, Any] = {
        "type": "service_account",
        "project_id": "rindle-test",
        "private_key_id": uuid.uuid4().hex,
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        "client_email": "rindle-cli@rindle-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path_factory.mktemp("sa") / "sa.json"
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def gcs_bucket(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; the endpoint comes from ``STORAGE_EMULATOR_HOST``."""
    name = f"rindle-cli-{uuid.uuid4().hex[:16]}"
    response = httpx.post(
        f"{gcs_endpoint}/storage/v1/b", params={"project": "rindle-test"}, json={"name": name}
    )
    assert response.status_code == 200, response.text
    return name


def gcs_table(bucket: str, key: Path) -> str:
    return f'[storage.gcs]\ntype = "gcs"\nbucket = "{bucket}"\ncredentials_file = "{key}"\n'


def test_gcs_resumable_in_chunks(
    run: Run,
    tmp_path: Path,
    gcs_endpoint: str,
    gcs_bucket: str,
    service_account: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(tmp_path, gcs_table(gcs_bucket, service_account), run)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    sized_file(tmp_path / "video.bin", 700 * 1024)
    result = run(
        "upload", "video.bin", "--strategy", "resumable", "--part-size", "256KiB", "--json"
    )
    data = json.loads(result.stdout)
    assert data["session"]["upload_strategy"] == "resumable"
    assert data["session"]["state"] == "completed"
    assert data["asset"]["state"] == "available"
    assert data["asset"]["byte_size"] == 700 * 1024
    assert "session_uri" not in data["session"]
    assert "upload_id=" not in result.output
    media = httpx.get(
        f"{gcs_endpoint}/download/storage/v1/b/{gcs_bucket}/o/"
        + data["asset"]["storage_key"].replace("/", "%2F"),
        params={"alt": "media"},
    )
    assert media.content == (tmp_path / "video.bin").read_bytes()


def test_gcs_has_no_multipart(
    run: Run,
    tmp_path: Path,
    gcs_endpoint: str,
    gcs_bucket: str,
    service_account: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(tmp_path, gcs_table(gcs_bucket, service_account), run)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    (tmp_path / "a.bin").write_bytes(b"a")
    result = run("upload", "a.bin", "--strategy", "multipart", code=1)
    assert result.stderr.splitlines()[-1].startswith(
        "error: UploadUnsupported: capability multipart_upload"
    )


def test_s3_doctor_notices_a_missing_bucket(
    run: Run, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    """A HEAD cannot tell a missing bucket from a missing key; the ranged GET can."""
    configure(tmp_path, s3_table(s3_endpoint, f"{s3_bucket}-absent"), run)
    data = json.loads(run("doctor", "--json", code=1).stdout)
    (check,) = [c for c in data["checks"] if c["name"] == "storage s3"]
    assert check["status"] == "fail"
    assert "NoSuchBucket" in check["detail"]
