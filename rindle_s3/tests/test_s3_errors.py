"""Error mapping: botocore exceptions become rindle errors, without secrets.

Failures moto cannot produce (a 200 response whose body is an error, throttling,
signature errors quoting the signature) come from a scripted HTTP server on
127.0.0.1 that answers like S3 does.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from rindle_core import (
    InvalidParts,
    StorageConflict,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
    UploadedPart,
)
from rindle_s3 import S3Storage
from rindle_s3._errors import translate

ACCESS = "AKIAFAKESERVER000000"
SECRET = "fake/server+secret/never-in-messages"
LEAK = "LEAKED-DETAIL-7f3a"


class ScriptedS3:
    """An HTTP server answering each request with the next scripted response."""

    def __init__(self) -> None:
        #: (status, body) or (status, body, extra headers), one per request.
        self.script: list[tuple[Any, ...]] = []
        self.requests: list[tuple[str, str]] = []
        #: The headers of each request, in order.
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append((self.command, self.path))
                outer.headers.append(dict(self.headers.items()))
                status, body, *extra = outer.script.pop(0) if outer.script else (500, b"")
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_s3() -> Iterator[ScriptedS3]:
    server = ScriptedS3()
    yield server
    server.close()


def storage_on(url: str, *, max_attempts: int = 1, **options: Any) -> S3Storage:
    return S3Storage(
        "bucket",
        endpoint_url=url,
        region="us-east-1",
        addressing_style="path",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        max_attempts=max_attempts,
        **options,
    )


def error_body(code: str, **extra: str) -> bytes:
    fields = "".join(f"<{k}>{v}</{k}>" for k, v in extra.items())
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>{LEAK}</Message>{fields}<RequestId>r</RequestId></Error>"
    ).encode()


def assert_clean(exc: BaseException) -> None:
    text = str(exc) + repr(exc)
    for secret in (SECRET, LEAK, "X-Amz-Signature", "Authorization"):
        assert secret not in text
    assert exc.__cause__ is None
    assert exc.__suppress_context__


PARTS = [UploadedPart(1, '"a"'), UploadedPart(2, '"b"')]


def test_complete_200_with_error_body_is_a_failure_and_retried(fake_s3: ScriptedS3) -> None:
    fake_s3.script = [(200, error_body("InternalError"))] * 3
    storage = storage_on(fake_s3.url, max_attempts=3)
    with pytest.raises(StorageUnavailable, match="InternalError") as info:
        storage.complete_multipart("k", "upl", PARTS, content_type="a/b")
    assert_clean(info.value)
    assert [m for m, _ in fake_s3.requests] == ["POST"] * 3


def test_complete_200_with_error_body_then_success(fake_s3: ScriptedS3) -> None:
    ok = (
        b"<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult>"
        b"<Bucket>bucket</Bucket><Key>k</Key><ETag>&quot;abc-2&quot;</ETag>"
        b"</CompleteMultipartUploadResult>"
    )
    fake_s3.script = [(200, error_body("InternalError")), (200, ok)]
    storage_on(fake_s3.url, max_attempts=3).complete_multipart(
        "k", "upl", PARTS, content_type="a/b"
    )
    assert len(fake_s3.requests) == 2


def test_complete_200_with_rejected_parts_is_invalid_parts(fake_s3: ScriptedS3) -> None:
    fake_s3.script = [(200, error_body("InvalidPart", UploadId="upl", PartNumber="2"))]
    with pytest.raises(InvalidParts, match="InvalidPart") as info:
        storage_on(fake_s3.url).complete_multipart("k", "upl", PARTS, content_type="a/b")
    assert_clean(info.value)


def test_complete_200_without_a_result_is_unavailable(fake_s3: ScriptedS3) -> None:
    fake_s3.script = [(200, b"")]
    with pytest.raises(StorageUnavailable, match="no result"):
        storage_on(fake_s3.url).complete_multipart("k", "upl", PARTS, content_type="a/b")


def test_complete_sends_parts_in_order(fake_s3: ScriptedS3) -> None:
    """Parts given out of order are sent sorted (S3 rejects InvalidPartOrder)."""
    fake_s3.script = [(400, error_body("InvalidPartOrder"))]
    with pytest.raises(InvalidParts, match="InvalidPartOrder"):
        storage_on(fake_s3.url).complete_multipart("k", "upl", PARTS[::-1], content_type="a/b")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, error_body("SlowDown"), StorageUnavailable),
        (500, error_body("InternalError"), StorageUnavailable),
        (429, b"", StorageUnavailable),
        (404, error_body("NoSuchKey"), StorageNotFound),
        (404, error_body("NoSuchBucket"), StorageError),
        (
            403,
            error_body(
                "SignatureDoesNotMatch",
                SignatureProvided="deadbeef" * 8,
                StringToSign="AWS4-HMAC-SHA256",
                AWSAccessKeyId=ACCESS,
            ),
            StorageError,
        ),
        (403, error_body("AccessDenied"), StorageError),
    ],
)
def test_get_errors_are_mapped(
    fake_s3: ScriptedS3, status: int, body: bytes, expected: type[StorageError]
) -> None:
    fake_s3.script = [(status, body)]
    with pytest.raises(expected) as info:
        storage_on(fake_s3.url).read_range("k", 0, 10)
    assert type(info.value) is expected
    assert_clean(info.value)
    assert "deadbeef" not in str(info.value)
    assert "GetObject" in str(info.value)


@pytest.mark.parametrize(
    ("status", "expected"), [(503, StorageUnavailable), (403, StorageError), (412, StorageConflict)]
)
def test_head_errors_have_no_body_and_are_mapped_by_status(
    fake_s3: ScriptedS3, status: int, expected: type[StorageError]
) -> None:
    fake_s3.script = [(status, b"")]
    with pytest.raises(expected) as info:
        storage_on(fake_s3.url).head("k")
    assert type(info.value) is expected


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ((404, error_body("NoSuchKey")), StorageNotFound),
        ((404, error_body("NoSuchBucket")), StorageError),
        ((503, error_body("SlowDown")), StorageUnavailable),
        ((200, b"x"), StorageNotFound),  # created meanwhile: the HEAD's answer stands
    ],
)
def test_a_head_404_is_told_apart_by_a_one_byte_get(
    fake_s3: ScriptedS3, probe: tuple[int, bytes], expected: type[StorageError]
) -> None:
    """A HEAD 404 has no body: a missing bucket and a missing key look alike."""
    fake_s3.script = [(404, b""), probe]
    with pytest.raises(expected) as info:
        storage_on(fake_s3.url).head("k")
    assert type(info.value) is expected
    assert_clean(info.value)
    assert [m for m, _ in fake_s3.requests] == ["HEAD", "GET"]
    assert fake_s3.headers[1]["Range"] == "bytes=0-0"


def test_a_null_version_id_is_not_a_version(fake_s3: ScriptedS3) -> None:
    """A version-suspended bucket reports "null" for every replacement: use the ETag."""
    etag = '"0123456789abcdef0123456789abcdef"'
    fake_s3.script = [
        (200, b"", {"ETag": etag, "x-amz-version-id": "null"}),
        (200, b"", {"ETag": etag, "x-amz-version-id": "3/L4kqtJlcpXro"}),
        (200, b"", {"ETag": "0123"}),  # an S3-compatible server that does not quote
    ]
    storage = storage_on(fake_s3.url)
    assert storage.head("k").version == etag
    assert storage.head("k").version == "3/L4kqtJlcpXro"
    assert storage.head("k").version == '"0123"'


def test_a_version_bound_read_sends_if_match_or_compares_the_version_id(
    fake_s3: ScriptedS3,
) -> None:
    storage = storage_on(fake_s3.url)
    fake_s3.script = [(206, b"ab", {"ETag": '"e"'})]
    assert storage.read_range("k", 0, 2, version='"e"') == b"ab"
    assert fake_s3.headers[-1]["If-Match"] == '"e"'
    fake_s3.script = [(412, error_body("PreconditionFailed"))]
    with pytest.raises(StorageConflict, match="PreconditionFailed") as info:
        storage.read_range("k", 0, 2, version='"e"')
    assert_clean(info.value)
    fake_s3.script = [(206, b"ab", {"x-amz-version-id": "v2"})]
    with pytest.raises(StorageConflict, match="another version"):
        storage.read_range("k", 0, 2, version="v1")
    assert "If-Match" not in fake_s3.headers[-1]
    assert "versionId" not in fake_s3.requests[-1][1]  # the current object, compared
    fake_s3.script = [(206, b"ab", {"x-amz-version-id": "v1"})]
    assert storage.read_range("k", 0, 2, version="v1") == b"ab"


def test_an_endpoint_that_never_answers_is_unavailable_within_the_timeouts() -> None:
    """Issue 9 (9): a store that accepts connections but never answers used to block minutes.

    The socket accepts and then says nothing; with a 2 s read timeout and
    the default retry budget (3 attempts), HEAD gives up in about 6 s plus
    backoff. The bound asserted is generous: it catches a hang, it does not
    time the adapter.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept_and_sleep() -> None:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept_and_sleep, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        storage = storage_on(
            f"http://127.0.0.1:{port}", max_attempts=3, connect_timeout=2, read_timeout=2
        )
        started = time.monotonic()
        try:
            with pytest.raises(StorageUnavailable, match="ReadTimeout") as info:
                storage.head("some/key")
        finally:
            elapsed = time.monotonic() - started
            stop.set()
            thread.join()
            for conn in accepted:
                conn.close()
    assert elapsed < 30, f"HEAD against a silent server took {elapsed:.1f} s"
    assert len(accepted) == 3  # the retry budget, spent
    assert_clean(info.value)
    assert str(port) not in str(info.value)


def test_timeouts_and_retries_have_bounded_defaults() -> None:
    storage = S3Storage(
        "bucket", region="us-east-1", aws_access_key_id=ACCESS, aws_secret_access_key=SECRET
    )
    config = storage.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (5.0, 10.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_abort_treats_no_such_upload_as_done_but_not_other_failures(fake_s3: ScriptedS3) -> None:
    storage = storage_on(fake_s3.url)
    fake_s3.script = [(404, error_body("NoSuchUpload"))]
    storage.abort_multipart("k", "upl")
    fake_s3.script = [(503, error_body("SlowDown"))]
    with pytest.raises(StorageUnavailable):
        storage.abort_multipart("k", "upl")
    fake_s3.script = [(404, error_body("NoSuchBucket"))]  # configuration, not "gone"
    with pytest.raises(StorageError) as info:
        storage.abort_multipart("k", "upl")
    assert type(info.value) is StorageError


def test_delete_failures_are_not_swallowed(fake_s3: ScriptedS3) -> None:
    storage = storage_on(fake_s3.url)
    fake_s3.script = [(404, error_body("NoSuchKey"))]
    storage.delete("k")
    fake_s3.script = [(403, error_body("AccessDenied"))]
    with pytest.raises(StorageError, match="AccessDenied"):
        storage.delete("k")


def test_unreachable_server_is_unavailable_without_the_url() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    storage = storage_on(f"http://127.0.0.1:{port}")
    with pytest.raises(StorageUnavailable) as info:
        storage.head("some/key")
    assert_clean(info.value)
    assert str(port) not in str(info.value)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, StorageNotFound),
        ("NoSuchUpload", 404, StorageNotFound),
        ("NotFound", 404, StorageNotFound),
        ("404", 404, StorageNotFound),
        ("NoSuchBucket", 404, StorageError),
        ("SlowDown", 503, StorageUnavailable),
        ("RequestTimeout", 400, StorageUnavailable),
        ("OperationAborted", 409, StorageUnavailable),
        ("", 502, StorageUnavailable),
        ("AccessDenied", 403, StorageError),
        ("InvalidPart", 400, StorageError),  # only complete turns it into InvalidParts
        ("PreconditionFailed", 412, StorageConflict),
        ("412", 412, StorageConflict),  # a HEAD with If-Match: no body
        ("ConditionalRequestConflict", 409, StorageConflict),
    ],
)
def test_translate_client_errors(code: str, status: int, expected: type[StorageError]) -> None:
    exc = ClientError(
        {"Error": {"Code": code, "Message": LEAK}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )
    result = translate(exc, "Op")
    assert type(result) is expected
    assert LEAK not in str(result)


def test_translate_transport_errors() -> None:
    exc = EndpointConnectionError(endpoint_url="http://h/k?X-Amz-Signature=abc")
    assert type(translate(exc, "Op")) is StorageUnavailable
    assert "abc" not in str(translate(exc, "Op"))
    timeout = ReadTimeoutError(endpoint_url="http://h/k?X-Amz-Signature=abc")
    assert type(translate(timeout, "Op")) is StorageUnavailable


def _composite_etag(*part_etags: str) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(e.strip('"')) for e in part_etags))  # noqa: S324
    return f'"{digest.hexdigest()}-{len(part_etags)}"'


MD5_PARTS = [
    UploadedPart(1, '"' + hashlib.md5(b"one").hexdigest() + '"'),  # noqa: S324
    UploadedPart(2, '"' + hashlib.md5(b"two").hexdigest() + '"'),  # noqa: S324
]


def test_complete_is_create_only(fake_s3: ScriptedS3) -> None:
    ok = (
        b"<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult>"
        b"<ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>"
    )
    fake_s3.script = [(200, ok)]
    storage_on(fake_s3.url).complete_multipart("k", "upl", PARTS, content_type="a/b")
    assert fake_s3.headers[0]["If-None-Match"] == "*"


def test_complete_refused_because_this_upload_already_completed_converges(
    fake_s3: ScriptedS3,
) -> None:
    """A server that evaluates If-None-Match on a replayed complete: the object is ours."""
    composite = _composite_etag(*(p.etag or "" for p in MD5_PARTS))
    fake_s3.script = [(412, error_body("PreconditionFailed")), (200, b"", {"ETag": composite})]
    storage_on(fake_s3.url).complete_multipart("k", "upl", MD5_PARTS, content_type="a/b")
    assert [m for m, _ in fake_s3.requests] == ["POST", "HEAD"]


@pytest.mark.parametrize(
    ("refusal", "head"),
    [
        ((412, error_body("PreconditionFailed")), (200, b"", {"ETag": '"other-2"'})),
        ((412, error_body("PreconditionFailed")), (404, b"")),
        ((409, error_body("ConditionalRequestConflict")), None),
    ],
)
def test_complete_onto_another_object_is_a_conflict(
    fake_s3: ScriptedS3, refusal: tuple[int, bytes], head: tuple[Any, ...] | None
) -> None:
    fake_s3.script = [refusal] + ([head] if head else [])
    with pytest.raises(StorageConflict) as info:
        storage_on(fake_s3.url).complete_multipart("k", "upl", MD5_PARTS, content_type="a/b")
    assert_clean(info.value)


def test_complete_conflict_with_etags_that_are_not_md5s(fake_s3: ScriptedS3) -> None:
    """Without MD5 part ETags (SSE-KMS…) the object cannot be recognised: a conflict."""
    fake_s3.script = [(412, error_body("PreconditionFailed"))]
    with pytest.raises(StorageConflict):
        storage_on(fake_s3.url).complete_multipart("k", "upl", PARTS, content_type="a/b")
    assert [m for m, _ in fake_s3.requests] == ["POST"]
