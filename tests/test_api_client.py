"""``rindle_core.api_client``: the upload API driven over real HTTP from another client.

An app (``api_server``) serves the API with a bearer-token ``authorize``
hook, the local backend's receiver stores the bytes, and the client under
test opens, signs, sends and completes uploads the way a script would.
Failures are made by real servers too: a closed port, a server that
answers 503 first, one that drops the connection after reading a request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from api_server import TOKEN, ServedAPI, local_broker, serve_api

from rindle_core import Database
from rindle_core.api_client import APIClient, APIError, AssetShape, SessionShape
from rindle_core.client import UploadClient
from rindle_core.local import ReceiverServer, serve_receiver
from rindle_core.storage import UploadedPart

MIB = 1024 * 1024


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverServer]:
    with serve_receiver(tmp_path / "objects") as server:
        yield server


@pytest.fixture
def served(
    any_db: Database, tmp_path: Path, receiver: ReceiverServer, pm: pluggy.PluginManager
) -> Iterator[ServedAPI]:
    broker = local_broker(any_db, tmp_path / "objects", receiver.url, pm)
    with serve_api(broker) as app:
        yield app


@pytest.fixture
def api(served: ServedAPI) -> Iterator[APIClient]:
    with APIClient(served.url, token=TOKEN) as client:
        yield client


def _file(tmp_path: Path, size: int, name: str = "data.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    return path


def test_a_single_put_becomes_available(api: APIClient, tmp_path: Path) -> None:
    path = _file(tmp_path, 10_000, "notes.txt")
    started = api.initiate("files", filename="notes.txt", content_type="text/plain", size=10_000)
    assert started.upload is not None and started.session["state"] == "signed"
    with UploadClient() as client:
        client.put(started.upload, path)
    status = api.complete(started.session_id)
    assert status["session"]["state"] == "completed"
    assert status["asset"]["state"] == "available"
    assert status["asset"]["byte_size"] == 10_000
    assert api.status(started.session_id) == status
    assert api.complete(started.session_id) == status  # a replay answers the same


def test_a_multipart_upload_signs_in_batches_and_lists_its_parts(
    api: APIClient, tmp_path: Path
) -> None:
    size = 2 * 5 * MIB + 123
    path = _file(tmp_path, size)
    started = api.initiate(
        "files", filename="big.bin", content_type="application/octet-stream", size=size,
        strategy="multipart", part_size=5 * MIB, checksum_algorithm="crc32",
    )  # fmt: skip
    assert started.part_size == 5 * MIB and started.checksum_algorithm == "crc32"
    signed_batches: list[list[int]] = []

    def sign(numbers: Any, checksums: Any) -> Any:
        signed_batches.append(list(numbers))
        return api.sign_parts(started.session_id, numbers, checksums)

    with UploadClient() as client:
        parts = client.upload_parts(path, part_size=5 * MIB, sign=sign, checksum_algorithm="crc32")
    held = api.list_parts(started.session_id)
    assert [p.part_number for p in held.parts] == [1, 2, 3]
    assert held.missing_part_numbers == () and held.committed_bytes == size
    status = api.complete(started.session_id, parts)
    assert status["asset"]["state"] == "available" and status["asset"]["byte_size"] == size
    assert sorted(n for batch in signed_batches for n in batch) == [1, 2, 3]


def test_a_profile_says_what_its_storage_takes(api: APIClient) -> None:
    rules = api.profile("files")
    assert rules["strategies"] == ["presigned_put", "presigned_post", "multipart"]
    assert rules["max_bytes"] == 64 * MIB and rules["allow_mime"] == []
    assert rules["multipart"] is not None
    assert rules["multipart"]["checksum_algorithms"] == ["crc32"]  # the receiver checks CRC32
    with pytest.raises(APIError) as refused:
        api.profile("../files")
    assert refused.value.status == 404


def test_a_form_post_becomes_available(api: APIClient, tmp_path: Path) -> None:
    path = _file(tmp_path, 4096)
    started = api.initiate(
        "files", filename="form.bin", content_type="application/octet-stream", size=4096,
        strategy="presigned_post",
    )  # fmt: skip
    assert started.form is not None and started.upload is None
    assert api.sign_post(started.session_id).url == started.form.url  # a fresh form
    with UploadClient() as client:
        client.post_form(started.form, path)
    assert api.complete(started.session_id)["asset"]["state"] == "available"


def test_abort_is_idempotent_and_then_refuses_signing(api: APIClient) -> None:
    started = api.initiate(
        "files", filename="a.bin", content_type="application/octet-stream", size=10
    )
    assert api.abort(started.session_id)["state"] == "aborted"
    assert api.abort(started.session_id)["state"] == "aborted"
    with pytest.raises(APIError) as refused:
        api.sign_put(started.session_id)
    assert refused.value.status == 409 and refused.value.slug == "invalid-transition"
    assert refused.value.members == {"state": "aborted"}


@pytest.mark.parametrize("session_id", ["0" * 32, "../../etc/passwd", "a/b", "%2e%2e"])
def test_an_unknown_or_hostile_session_id_is_not_found(api: APIClient, session_id: str) -> None:
    with pytest.raises(APIError) as refused:
        api.status(session_id)
    assert refused.value.status in (400, 404)
    # "a/b" reaches the app decoded (WSGI's PATH_INFO): no route, answered 404 all the same
    assert refused.value.slug in ("session-not-found", "invalid-argument", "not-found")
    assert not refused.value.retryable


def test_a_bad_part_list_is_a_typed_refusal(api: APIClient) -> None:
    started = api.initiate(
        "files", filename="p.bin", content_type="application/octet-stream", size=6 * MIB,
        strategy="multipart", part_size=5 * MIB,
    )  # fmt: skip
    api.sign_parts(started.session_id, [1, 2])
    with pytest.raises(APIError) as refused:
        api.complete(started.session_id, [UploadedPart(part_number=1, etag='"x"')])
    assert refused.value.status == 400 and refused.value.slug == "invalid-parts"
    assert refused.value.members.get("missing_part_numbers") == [2]
    assert api.status(started.session_id)["session"]["state"] not in ("completed", "failed")


def test_a_policy_refusal_carries_its_reason(api: APIClient) -> None:
    with pytest.raises(APIError) as refused:
        api.initiate(
            "files", filename="huge.bin", content_type="application/octet-stream", size=2**40
        )
    assert refused.value.status == 422 and refused.value.slug == "policy-violation"
    assert refused.value.members["reason"]


def test_without_the_token_the_app_refuses_and_nothing_leaks(
    served: ServedAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with APIClient(served.url, token="wrong-" + TOKEN) as api:
        with pytest.raises(APIError) as refused:
            api.initiate("files", filename="a.bin", content_type="text/plain", size=1)
        assert refused.value.status == 401 and refused.value.slug == "unauthorized"
        assert TOKEN not in repr(api) and "wrong-" not in repr(api)
    assert "wrong-" not in str(refused.value) and "wrong-" not in caplog.text


def test_a_resumable_uri_stays_out_of_the_repr() -> None:
    from rindle_core.api_client import Initiated

    started = Initiated(session={"id": "s"}, session_uri="https://x/upload?upload_id=SECRET")  # type: ignore[typeddict-item]
    assert "SECRET" not in repr(started)


# -- failures made by real servers ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_api_is_a_retryable_error_after_the_retries() -> None:
    from rindle_core.client import RetryPolicy

    api = APIClient(f"http://127.0.0.1:{_free_port()}/api", retry=RetryPolicy(attempts=3, base=0))
    with pytest.raises(APIError) as failed:
        api.status("0" * 32)
    assert failed.value.status is None and failed.value.slug == "unreachable"
    assert failed.value.retryable


@contextlib.contextmanager
def _scripted(answers: list[Any]) -> Iterator[tuple[str, list[str]]]:
    """A server answering each request with the next of *answers*: (status, headers, body),
    or "drop" to read the request and close the connection unanswered."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append(f"{self.command} {self.path}")
            answer = answers.pop(0)
            if answer == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            status, headers, body = answer
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api", seen
    finally:
        server.shutdown()
        server.server_close()


_SESSION = dict.fromkeys(SessionShape.__required_keys__) | {"id": "s"}
_ASSET = dict.fromkeys(AssetShape.__required_keys__) | {"id": "a"}
_STATUS = json.dumps({"session": _SESSION, "asset": _ASSET}).encode()
_UNAVAILABLE = (
    503,
    [("Content-Type", "application/problem+json"), ("Retry-After", "0")],
    b'{"type": "https://x/web.md#database-unavailable", "title": "Database unavailable",'
    b' "status": 503, "detail": "retry later"}',
)


def test_a_503_is_tried_again_after_its_retry_after() -> None:
    with _scripted([_UNAVAILABLE, (200, [], _STATUS)]) as (url, seen):
        assert APIClient(url).status("s")["session"]["id"] == "s"
    assert seen == ["GET /api/uploads/s", "GET /api/uploads/s"]


def test_a_503_that_persists_is_the_problem() -> None:
    from rindle_core.client import RetryPolicy

    with _scripted([_UNAVAILABLE] * 2) as (url, seen), pytest.raises(APIError) as failed:
        APIClient(url, retry=RetryPolicy(attempts=2, base=0)).status("s")
    assert failed.value.slug == "database-unavailable" and failed.value.retryable
    assert str(failed.value) == "Database unavailable: retry later"


def test_a_lost_answer_is_asked_again_where_a_replay_is_safe() -> None:
    with _scripted(["drop", (200, [], _STATUS)]) as (url, seen):
        assert APIClient(url).complete("s")["asset"]["id"] == "a"
    assert seen == ["POST /api/uploads/s/complete"] * 2


def test_a_lost_answer_to_initiate_is_not_replayed() -> None:
    """A replay could open a second session: the error says so, and one request went."""
    with _scripted(["drop", (201, [], b"{}")]) as (url, seen), pytest.raises(APIError) as failed:
        APIClient(url).initiate("files", filename="a", content_type="text/plain", size=1)
    assert failed.value.slug == "unreachable"
    assert seen == ["POST /api/uploads"]


@pytest.mark.parametrize(
    ("call", "body"),
    [
        (lambda api: api.status("s"), b'{"session": {"id": "s"}}'),
        (lambda api: api.status("s"), b'{"session": [], "asset": {}}'),
        (lambda api: api.sign_put("s"), b'{"form": {}}'),
        (lambda api: api.sign_parts("s", [1]), b'{"parts": [{"url": "x"}]}'),
        (lambda api: api.list_parts("s"), b'{"session": null}'),
        (lambda api: api.profile("p"), b'{"name": "p"}'),
        (lambda api: api.abort("s"), b"[1, 2]"),
    ],
)
def test_an_answer_of_another_shape_is_an_api_error(call: Any, body: bytes) -> None:
    """Another app at that URL, or another version of the API: one typed error, no KeyError."""
    answer = (200, [("Content-Type", "application/json")], body)
    with _scripted([answer]) as (url, _), pytest.raises(APIError) as failed:
        call(APIClient(url))
    assert failed.value.slug == "unexpected-answer" and failed.value.status is None


def test_a_long_answer_is_read_whole() -> None:
    """1,000 signed parts with long URLs: more than the upload client's 1 MiB cap."""
    part = {"method": "PUT", "url": "https://x/" + "q" * 2000, "headers": {}, "expires_at": None}
    parts = [{**part, "part_number": n} for n in range(1, 1001)]
    body = json.dumps({"session": _SESSION, "parts": parts}).encode()
    assert len(body) > 1024 * 1024
    with _scripted([(200, [("Content-Type", "application/json")], body)]) as (url, _):
        signed = APIClient(url).sign_parts("s", list(range(1, 1001)))
    assert [p.part_number for p in signed] == list(range(1, 1001))


def test_an_answer_that_is_not_a_problem_is_still_typed() -> None:
    html = (502, [("Content-Type", "text/html")], b"<html>bad gateway</html>")
    with _scripted([html]) as (url, _), pytest.raises(APIError) as failed:
        APIClient(url).status("s")
    assert failed.value.status == 502 and failed.value.slug == "unexpected-answer"
    assert "<html>" not in str(failed.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/api", "http"),
        ("https:///api", "name a host"),
        ("https://user:secret@example.com/api", "not in the API's URL"),
        ("https://example.com/api?key=secret", "no query"),
    ],
)
def test_the_base_url_is_a_plain_http_mount_point(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        APIClient(url)
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize(
    ("token", "headers", "message"),
    [
        ("secret\r\nX-Injected: 1", {}, "header 'Authorization'"),
        (None, {"Cookie": "a=secret\nb"}, "header 'Cookie'"),
        (None, {"Bad Name": "secret"}, "not a header name"),
    ],
)
def test_headers_that_cannot_be_sent_are_refused_up_front(
    token: str | None, headers: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        APIClient("http://127.0.0.1:1/api", token=token, headers=headers)
    assert "secret" not in str(refused.value)


def test_a_retry_after_date_is_honoured_within_its_cap() -> None:
    import email.utils as eu

    from rindle_core.api_client import _retry_after
    from rindle_core.client import RetryPolicy

    policy = RetryPolicy(base=0)
    soon = eu.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3), usegmt=True)
    later = eu.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), usegmt=True)
    assert 1 < _retry_after(soon, policy, 1) <= 3
    assert _retry_after(later, policy, 1) == 30
    assert _retry_after("120", policy, 1) == 30
    assert _retry_after("not a date", policy, 1) == 0
    assert _retry_after(None, policy, 1) == 0
