"""``rindle upload --strategy post``: one HTML form POST under a signed policy.

On the local backend (its receiver takes the form) and on S3 (moto, started
by ``test_cli_cloud.py``'s fixtures), plus the form the upload client sends.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import test_cli_cloud
from click.testing import Result

from rindle_core import TransferFailed
from rindle_core.cli._demo import _png
from rindle_core.client import UploadClient
from rindle_core.storage import PresignedPost

Run = Callable[..., Result]

# moto in a thread and a fresh bucket per test: test_cli_cloud.py's fixtures.
s3_endpoint = test_cli_cloud.s3_endpoint
s3_bucket = test_cli_cloud.s3_bucket


def upload_json(run: Run, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run("upload", *args, "--json").stdout)
    return data


def test_post_on_the_embedded_default(run: Run, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(_png(16, 16))
    data = upload_json(run, "photo.png", "--strategy", "post")
    session, asset = data["session"], data["asset"]
    assert session["upload_strategy"] == "presigned_post"
    assert session["state"] == "completed"
    assert session["declared_size"] == photo.stat().st_size
    assert (asset["state"], asset["content_type"]) == ("available", "image/png")
    stored = tmp_path / ".rindle" / "objects" / asset["storage_key"]
    assert stored.read_bytes() == photo.read_bytes()


def test_post_on_s3_waits_for_the_policy_to_expire(
    run: Run, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    """S3's POST can replace the object until its policy expires: promotion waits."""
    test_cli_cloud.configure(tmp_path, test_cli_cloud.s3_table(s3_endpoint, s3_bucket), run)
    test_cli_cloud.sized_file(tmp_path / "a.bin", 300_000)
    data = upload_json(run, "a.bin", "--strategy", "post")
    session, asset = data["session"], data["asset"]
    assert (session["upload_strategy"], session["state"]) == ("presigned_post", "completed")
    assert asset["state"] == "validating"
    assert dt.datetime.fromisoformat(session["urls_expire_at"]) > dt.datetime.now(dt.UTC)
    client = test_cli_cloud.s3_client(s3_endpoint)
    body = client.get_object(Bucket=s3_bucket, Key=session["storage_key"])["Body"].read()
    assert body == (tmp_path / "a.bin").read_bytes()

    human = run("upload", "a.bin", "--strategy", "post")
    assert "promotion waits until the signed URLs or form expire" in human.stdout


def test_a_failed_form_post_aborts_the_session(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: UploadClient, post: PresignedPost, path: Path | str) -> httpx.Response:
        raise TransferFailed("POST http://127.0.0.1/o/x returned HTTP 403", status=403)

    monkeypatch.setattr(UploadClient, "post_form", refused)
    (tmp_path / "a.txt").write_text("a")
    result = run("upload", "a.txt", "--strategy", "post", code=1)
    assert "error: TransferFailed: POST" in result.stderr
    (session,) = json.loads(run("sessions", "list", "--json").stdout)["sessions"]
    assert (session["upload_strategy"], session["state"]) == ("presigned_post", "aborted")


@pytest.mark.parametrize("option", [["--part-size", "8MiB"], ["--concurrency", "2"]])
def test_part_options_are_usage_errors(run: Run, tmp_path: Path, option: list[str]) -> None:
    (tmp_path / "a.txt").write_text("a")
    result = run("upload", "a.txt", "--strategy", "post", *option, code=2)
    assert "--part-size and --concurrency apply to multipart" in result.stderr


def test_the_signature_never_reaches_the_output(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[PresignedPost] = []
    original = UploadClient.post_form

    def spy(self: UploadClient, post: PresignedPost, path: Path | str) -> httpx.Response:
        sent.append(post)
        return original(self, post, path)

    monkeypatch.setattr(UploadClient, "post_form", spy)
    (tmp_path / "a.txt").write_text("a\n")
    result = run("-vv", "upload", "a.txt", "--strategy", "post")
    (post,) = sent
    signature = post.fields["x-rindle-signature"]
    assert len(signature) > 16
    assert "rindle.session.transition" in result.stderr
    assert signature not in result.output
    assert signature not in result.stderr


def test_the_client_sends_the_fields_in_order_and_the_file_last(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(204)

    path = tmp_path / 'my "report".pdf'
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 300)
    fields = {"key": "k/a.pdf", "Content-Type": "application/pdf", "policy": "eyJ4Ijoi"}
    post = PresignedPost(
        url="https://bucket.example/", fields=fields, expires_at=dt.datetime.now(dt.UTC)
    )
    progress: list[int] = []
    http = httpx.Client(transport=httpx.MockTransport(answer))
    with UploadClient(http=http, progress=progress.append) as client:
        assert client.post_form(post, path).status_code == 204

    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "https://bucket.example/")
    assert int(request.headers["Content-Length"]) == len(request.content)
    assert sum(progress) == path.stat().st_size
    raw = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode() + request.content
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = list(form.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == [
        "key",
        "Content-Type",
        "policy",
        "file",
    ]
    assert [p.get_payload(decode=True) for p in parts[:3]] == [v.encode() for v in fields.values()]
    file = parts[3]
    assert file.get_filename() == "my %22report%22.pdf"
    assert file.get_content_type() == "application/pdf"
    assert file.get_payload(decode=True) == path.read_bytes()
