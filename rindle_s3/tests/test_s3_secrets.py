"""Credentials, session tokens and signatures never show in reprs, messages or logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from rindle_core import Broker, Database, Profile, StorageError, UploadedPart
from rindle_core.client import UploadClient
from rindle_core.plugins import make_plugin_manager
from rindle_core.testing import assert_no_secrets
from rindle_s3 import S3Storage, SigV4Presigner, StaticCredentials

TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token-0123456789abcdef"


def query_secrets(url: str) -> list[str]:
    query = dict(parse_qsl(urlsplit(url).query))
    return [query[name] for name in ("X-Amz-Signature", "X-Amz-Security-Token") if name in query]


def test_reprs_show_no_credentials(
    make_storage: Callable[..., S3Storage], bucket: str, aws_secrets: list[str]
) -> None:
    storage = make_storage(bucket, aws_session_token=TOKEN)
    secrets = [*aws_secrets, TOKEN]
    for text in (repr(storage), str(storage), repr(storage.presigner), repr(storage.client)):
        assert_no_secrets(text, secrets, what="a repr")
    assert bucket in repr(storage)
    assert (
        repr(StaticCredentials("AKIDXXXXXXXXXXXXXXXX", "s3cr3t/s3cr3t", TOKEN)).count("REDACTED")
        == 2
    )
    assert "s3cr3t" not in repr(SigV4Presigner(StaticCredentials("a", "s3cr3t"), region="r"))


def test_endpoint_userinfo_is_not_shown(bucket: str, s3_endpoint: str) -> None:
    with_userinfo = s3_endpoint.replace("http://", "http://user:pa55word@")
    storage = S3Storage(
        bucket,
        endpoint_url=with_userinfo,
        addressing_style="path",
        aws_access_key_id="AKIDXXXXXXXXXXXXXXXX",
        aws_secret_access_key="x",
    )
    assert "pa55word" not in repr(storage)


def test_presigned_requests_hide_signature_and_token(
    make_storage: Callable[..., S3Storage], bucket: str, aws_secrets: list[str]
) -> None:
    storage = make_storage(bucket, aws_session_token=TOKEN)
    requests = [
        storage.presign_put("k", content_type="a/b", content_length=3, expires_in=60),
        storage.presign_part("k", "upload-id", 3, expires_in=60),
        storage.presign_get("k", expires_in=60),
    ]
    for request in requests:
        secrets = query_secrets(request.url)
        assert len(secrets) == 2  # signature and token are in the URL...
        assert_no_secrets(
            repr(request), [*secrets, *aws_secrets, TOKEN], what="repr(PresignedRequest)"
        )


def test_presigning_logs_nothing(storage: S3Storage, caplog: pytest.LogCaptureFixture) -> None:
    """The fast presigner never goes through botocore (whose DEBUG log prints signatures)."""
    caplog.set_level(logging.DEBUG)
    storage.presign_put("k", content_type="a/b", content_length=None, expires_in=60)
    storage.presign_part("k", "u", 1, expires_in=60)
    storage.presign_get("k", expires_in=60)
    assert caplog.records == []


def test_error_messages_show_no_credentials(
    make_storage: Callable[..., S3Storage], aws_secrets: list[str]
) -> None:
    storage = make_storage("rindle-no-such-bucket-for-secrets", aws_session_token=TOKEN)
    with pytest.raises(StorageError) as info:
        storage.create_multipart("k", content_type="a/b")
    assert_no_secrets(str(info.value), [*aws_secrets, TOKEN], what="the error message")
    assert info.value.__cause__ is None


def test_a_whole_upload_logs_no_secret(
    storage: S3Storage,
    tmp_path: Path,
    make_file: Callable[..., Path],
    aws_secrets: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Broker events and rindle's loggers carry no credential or signature."""
    database = Database("sqlite:///" + str(tmp_path / "r.db"))
    database.create_all()
    broker = Broker(
        database,
        profiles=[Profile(name="files", storage="main")],
        storages={"main": storage},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
        job_mode="inline",
    )
    path = make_file(5 * 1024 * 1024 + 1)
    caplog.set_level(logging.DEBUG, logger="rindle")
    caplog.set_level(logging.DEBUG, logger="rindle_s3")
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="rindle"):
        started = broker.initiate_multipart_session(
            "files",
            filename="f.bin",
            content_type="application/octet-stream",
            size=path.stat().st_size,
        )
        signed: list[Any] = []

        def sign(numbers: Any) -> Any:
            parts = broker.sign_multipart_parts(started.session.id, list(numbers)).parts
            signed.extend(parts)
            return parts

        UploadClient().upload_parts(path, part_size=started.multipart.part_size, sign=sign)
        broker.complete_multipart_upload(started.session.id, None)
        single = broker.initiate_session(
            "files", filename="s.txt", content_type="text/plain", size=2
        )
        put = broker.sign_url(single.id).presigned
        UploadClient().put_bytes(put, b"hi")
        broker.verify_completion(single.id)
    secrets = [*aws_secrets]
    for request in [*signed, put]:
        secrets += query_secrets(request.url)
    events = [r for r in caplog.records if getattr(r, "rindle_event", None)]
    shown += [record.getMessage() for record in caplog.records]
    shown += [repr(getattr(record, "rindle_fields", {})) for record in events]
    assert events  # the broker did report what happened
    for text in shown:
        assert_no_secrets(text, secrets, what="a log event")


#: Loggers of the in-process emulator: they play S3's part, not the application's.
_SERVER_LOGGERS = ("moto", "werkzeug")


def test_debug_logging_of_a_whole_flow_shows_no_secret(
    make_storage: Callable[..., S3Storage],
    bucket: str,
    make_file: Callable[..., Path],
    aws_secrets: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 9 (12): with DEBUG on, botocore printed the Authorization header and signatures.

    Every logger the application side uses (botocore, boto3, s3transfer,
    urllib3, httpx, httpcore, rindle) runs at DEBUG through a real single
    PUT, a multipart upload, a refused complete and the reads around them.
    No record, formatted with its exception text, may show the secret key,
    the session token, a signature (of a URL or of an API call) or a
    presigned URL's query.
    """
    storage = make_storage(bucket, aws_session_token=TOKEN)
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "boto3", "s3transfer", "urllib3", "httpx", "httpcore", "rindle_s3"):
        caplog.set_level(logging.DEBUG, logger=name)
    signed: list[Any] = []
    client = UploadClient()  # stdlib connections: logs nothing

    put = storage.presign_put("one.txt", content_type="text/plain", content_length=2, expires_in=60)
    signed.append(put)
    with httpx.Client() as http:  # a caller's httpx client logs each URL: redacted
        UploadClient(http=http).put_bytes(put, b"hi")
    version = storage.head("one.txt").version
    assert storage.read_range("one.txt", 0, 2, version=version) == b"hi"
    signed.append(storage.presign_get("one.txt", expires_in=60, content_type="text/plain"))

    path = make_file(5 * 1024 * 1024 + 10)
    init = storage.create_multipart("big.bin", content_type="application/octet-stream")

    def sign(numbers: Any) -> list[Any]:
        parts = [storage.presign_part("big.bin", init.upload_id, n, expires_in=60) for n in numbers]
        signed.extend(parts)
        return parts

    parts = client.upload_parts(path, part_size=5 * 1024 * 1024, sign=sign)
    storage.list_parts("big.bin", init.upload_id)
    storage.complete_multipart("big.bin", init.upload_id, parts, content_type="a/b")
    again = storage.create_multipart("big.bin", content_type="application/octet-stream")
    part = storage.presign_part("big.bin", again.upload_id, 1, expires_in=60)
    first = client.put_bytes(part, b"x")
    with pytest.raises(StorageError):  # create-only: the object exists
        storage.complete_multipart(
            "big.bin", again.upload_id, [UploadedPart(1, first.headers["ETag"])], content_type="a/b"
        )
    storage.abort_multipart("big.bin", again.upload_id)
    storage.delete("one.txt")

    records = [r for r in caplog.records if not r.name.startswith(_SERVER_LOGGERS)]
    names = {r.name.split(".")[0] for r in records}
    assert {"botocore", "urllib3", "httpx"} <= names  # the loggers did talk
    assert any("Authorization" in r.getMessage() for r in records)  # ...about the header
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    secrets = [*aws_secrets, TOKEN]
    for request in signed:
        query = urlsplit(request.url).query
        # Not secret_query_values(): X-Amz-Algorithm and X-Amz-Date are long
        # but public (the latter is also every API call's X-Amz-Date header).
        secrets += [query, *query_secrets(request.url)]
        secrets += [v for k, v in parse_qsl(query) if k == "X-Amz-Credential"]
    for record in records:
        assert_no_secrets(formatter.format(record), secrets, what=f"a {record.name} record")
