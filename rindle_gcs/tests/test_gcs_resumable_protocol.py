"""Unit tests of the resumable protocol against a scripted HTTP fake.

The emulators cover the happy paths; the statuses they never produce (410
expired, 308 without Range, 5xx, 403, transport failures) are scripted here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from requests.structures import CaseInsensitiveDict

from rindle_core import (
    InvalidArgument,
    StorageConflict,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
)
from rindle_core.storage import ResumableStatus
from rindle_gcs import SESSION_LIFETIME, GCSStorage, session_fingerprint
from rindle_gcs._resumable import ResumableProtocol

SESSION_URI = (
    "https://storage.googleapis.com/upload/storage/v1/b/bkt/o"
    "?uploadType=resumable&name=a%2Fb.pdf&upload_id=SECRET-UPLOAD-ID-123"
)


@dataclass
class FakeResponse:
    status_code: int
    headers: CaseInsensitiveDict[str] = field(default_factory=CaseInsensitiveDict)
    content: bytes = b""


@dataclass
class Call:
    method: str
    url: str
    headers: Mapping[str, str]
    data: bytes


class FakeSession:
    """Answers every request with the scripted response (or raises)."""

    def __init__(self, respond: Callable[[Call], FakeResponse]) -> None:
        self.respond = respond
        self.calls: list[Call] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        data: bytes,
        timeout: float | tuple[float, float],
        allow_redirects: bool,
    ) -> FakeResponse:
        assert allow_redirects is False
        assert timeout == (2.0, 5.0)
        call = Call(method, url, dict(headers), data)
        self.calls.append(call)
        return self.respond(call)


def reply(status: int, headers: Mapping[str, str] | None = None, body: bytes = b"") -> FakeSession:
    return FakeSession(lambda call: FakeResponse(status, CaseInsensitiveDict(headers or {}), body))


class Sleeps:
    """Records the back-off sleeps instead of sleeping; advances a fake clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def protocol(
    authorized: FakeSession,
    anonymous: FakeSession | None = None,
    *,
    retry_timeout: float = 0.0,
    sleeps: Sleeps | None = None,
) -> ResumableProtocol:
    sleeps = sleeps or Sleeps()
    return ResumableProtocol(
        endpoint="https://storage.googleapis.com",
        bucket="bkt",
        authorized=authorized,
        anonymous=anonymous or authorized,
        timeout=(2.0, 5.0),
        retry_timeout=retry_timeout,
        sleep=sleeps.sleep,
        clock=sleeps.clock,
    )


def storage_on(session: FakeSession) -> GCSStorage:
    """A storage whose resumable sessions go to *session* (no other request is made)."""
    client = gcs.Client(project="p", credentials=AnonymousCredentials())
    return GCSStorage(bucket=client.bucket("bkt"), resumable=protocol(session), signer=None)


# -- create ------------------------------------------------------------------


def test_create_sends_type_size_and_origin_and_returns_the_location() -> None:
    session = reply(200, {"Location": SESSION_URI, "X-GUploader-UploadID": "SECRET-UPLOAD-ID-123"})
    before = dt.datetime.now(dt.UTC)

    init = protocol(session).create(
        "a/b.pdf", content_type="application/pdf", size=1234, origin="https://app.example"
    )

    (call,) = session.calls
    assert call.method == "POST"
    assert call.url == (
        "https://storage.googleapis.com/upload/storage/v1/b/bkt/o"
        "?uploadType=resumable&name=a%2Fb.pdf&ifGenerationMatch=0"
    )
    assert call.headers["X-Upload-Content-Type"] == "application/pdf"
    assert call.headers["X-Upload-Content-Length"] == "1234"
    assert call.headers["Origin"] == "https://app.example"
    assert json.loads(call.data) == {"name": "a/b.pdf", "contentType": "application/pdf"}
    assert init.session_uri == SESSION_URI
    # The id handed out is a digest, never GCS's upload_id (the URI's secret part).
    assert init.upload_id == session_fingerprint(SESSION_URI)
    assert "SECRET" not in init.upload_id
    assert (
        before + SESSION_LIFETIME
        <= init.expires_at
        <= before + SESSION_LIFETIME + dt.timedelta(minutes=1)
    )


def test_create_without_size_or_origin_omits_those_headers() -> None:
    session = reply(200, {"Location": SESSION_URI})

    protocol(session).create("k", content_type="text/plain", size=None, origin=None)

    headers = {k.lower() for k in session.calls[0].headers}
    assert "x-upload-content-length" not in headers
    assert "origin" not in headers


def test_create_rejects_a_negative_size_before_any_request() -> None:
    session = reply(200, {"Location": SESSION_URI})
    with pytest.raises(InvalidArgument):
        storage_on(session).create_resumable("k", content_type="text/plain", size=-1, origin=None)
    assert session.calls == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, StorageError),
        (400, StorageError),
        (429, StorageUnavailable),
        (503, StorageUnavailable),
        (412, StorageConflict),
    ],
)
def test_create_maps_http_errors(status: int, error: type[StorageError]) -> None:
    with pytest.raises(error) as info:
        protocol(reply(status)).create("k", content_type="text/plain", size=1, origin=None)
    assert type(info.value) is error
    assert f"HTTP {status}" in str(info.value)


def test_create_answered_404_means_the_bucket_is_missing() -> None:
    """A create names no object that could be missing: a 404 is the bucket."""
    with pytest.raises(StorageError, match="bucket 'bkt' does not exist") as info:
        protocol(reply(404)).create("k", content_type="text/plain", size=1, origin=None)
    assert not isinstance(info.value, StorageNotFound)


def test_create_asks_gcs_for_a_create_only_object() -> None:
    """``ifGenerationMatch=0``: the finished upload cannot replace a live object."""
    session = reply(200, {"Location": SESSION_URI})

    protocol(session).create("k", content_type="text/plain", size=1, origin=None)

    query = parse_qs(urlsplit(session.calls[0].url).query)
    assert query["ifGenerationMatch"] == ["0"]


def test_create_without_location_is_an_error() -> None:
    with pytest.raises(StorageError, match="no Location"):
        protocol(reply(200)).create("k", content_type="text/plain", size=1, origin=None)


# -- status ------------------------------------------------------------------


def test_status_queries_with_an_empty_put_and_content_range_star() -> None:
    anonymous = reply(308, {"Range": "bytes=0-262143"})
    authorized = reply(500)

    status = protocol(authorized, anonymous).status(SESSION_URI)

    assert status == ResumableStatus(state="in_progress", committed_bytes=262144)
    (call,) = anonymous.calls
    assert (call.method, call.url, call.data) == ("PUT", SESSION_URI, b"")
    assert call.headers["Content-Range"] == "bytes */*"
    assert authorized.calls == []  # the session URI alone authorises status


def test_a_308_without_range_means_nothing_committed() -> None:
    assert protocol(reply(308)).status(SESSION_URI) == ResumableStatus("in_progress", 0)


def test_a_malformed_range_is_an_error_not_a_guess() -> None:
    with pytest.raises(StorageError, match="malformed Range"):
        protocol(reply(308, {"Range": "bytes=5-9"})).status(SESSION_URI)


@pytest.mark.parametrize("status", [200, 201])
def test_complete_reports_the_stored_size(status: int) -> None:
    from_header = reply(status, {"X-Goog-Stored-Content-Length": "777"})
    from_body = reply(status, {}, json.dumps({"size": "778"}).encode())

    assert protocol(from_header).status(SESSION_URI) == ResumableStatus("complete", 777)
    assert protocol(from_body).status(SESSION_URI) == ResumableStatus("complete", 778)


def test_expired_session_is_a_state() -> None:
    assert protocol(reply(410)).status(SESSION_URI) == ResumableStatus("expired", 0)


@pytest.mark.parametrize("status", [404, 499])
def test_unknown_or_cancelled_session_is_not_found(status: int) -> None:
    with pytest.raises(StorageNotFound):
        protocol(reply(status)).status(SESSION_URI)


def test_status_server_error_is_transient() -> None:
    with pytest.raises(StorageUnavailable):
        protocol(reply(503)).status(SESSION_URI)


def test_status_of_a_session_refused_by_its_precondition_is_a_conflict() -> None:
    with pytest.raises(StorageConflict):
        protocol(reply(412)).status(SESSION_URI)


def test_status_rejects_a_non_http_session_uri() -> None:
    session = reply(308)
    for call in (protocol(session).status, protocol(session).cancel):
        with pytest.raises(StorageError, match="not an http"):
            call("file:///etc/passwd")
    assert session.calls == []


# -- cancel ------------------------------------------------------------------


@pytest.mark.parametrize("status", [499, 200, 204, 404, 410])
def test_cancel_succeeds_on_499_and_on_already_gone(status: int) -> None:
    session = reply(status)

    protocol(session).cancel(SESSION_URI)

    (call,) = session.calls
    assert (call.method, call.url) == ("DELETE", SESSION_URI)


@pytest.mark.parametrize(("status", "error"), [(500, StorageUnavailable), (403, StorageError)])
def test_cancel_failures_are_errors(status: int, error: type[StorageError]) -> None:
    with pytest.raises(error):
        protocol(reply(status)).cancel(SESSION_URI)


# -- secrets -----------------------------------------------------------------


def _raise(exc: Exception) -> FakeSession:
    def respond(call: Call) -> FakeResponse:
        raise exc

    return FakeSession(respond)


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError(
            f"HTTPSConnectionPool: Max retries exceeded with url: {SESSION_URI}"
        ),
        requests.Timeout(f"Read timed out: {SESSION_URI}"),
        auth_exceptions.TransportError(f"failed {SESSION_URI}"),
    ],
)
def test_transport_failures_are_transient_and_never_quote_the_uri(exc: Exception) -> None:
    proto = protocol(_raise(exc))
    calls: list[Callable[[], object]] = [
        lambda: proto.status(SESSION_URI),
        lambda: proto.cancel(SESSION_URI),
        lambda: proto.create("k", content_type="text/plain", size=1, origin=None),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as info:
            call()
        assert "SECRET" not in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__suppress_context__


def test_auth_failures_on_create_are_errors_without_detail() -> None:
    proto = protocol(_raise(auth_exceptions.RefreshError(f"bad token for {SESSION_URI}")))
    with pytest.raises(StorageError) as info:
        proto.create("k", content_type="text/plain", size=1, origin=None)
    assert "SECRET" not in str(info.value)
    assert info.value.__cause__ is None


def test_logs_never_carry_the_session_uri(caplog: pytest.LogCaptureFixture) -> None:
    session = FakeSession(
        lambda call: {
            "POST": FakeResponse(200, CaseInsensitiveDict({"Location": SESSION_URI})),
            "PUT": FakeResponse(308, CaseInsensitiveDict({"Range": "bytes=0-9"})),
            "DELETE": FakeResponse(499),
        }[call.method]
    )
    proto = protocol(session)
    with caplog.at_level(logging.DEBUG, logger="rindle.gcs"):
        proto.create("k", content_type="text/plain", size=10, origin=None)
        proto.status(SESSION_URI)
        proto.cancel(SESSION_URI)
    logs = [r for r in caplog.records if r.name == "rindle.gcs"]
    assert {getattr(r, "rindle_event", None) for r in logs} == {
        "rindle.gcs.resumable.created",
        "rindle.gcs.resumable.status",
        "rindle.gcs.resumable.cancelled",
    }
    text = "\n".join(r.getMessage() for r in logs)
    assert "SECRET" not in text
    assert session_fingerprint(SESSION_URI) in text
    assert "SECRET" not in repr(proto)


@pytest.mark.parametrize(
    ("content_type", "origin"),
    [("text/plain\r\nX-Evil: 1", None), ("text/plain", "https://a.example\nX-Evil: 1")],
)
def test_header_injection_is_refused_before_any_request(
    content_type: str, origin: str | None
) -> None:
    session = reply(200, {"Location": SESSION_URI})
    with pytest.raises(InvalidArgument):
        storage_on(session).create_resumable("k", content_type=content_type, size=1, origin=origin)
    assert session.calls == []


def test_the_storage_reports_and_cancels_through_the_protocol() -> None:
    storage = storage_on(reply(410))

    assert storage.resumable_status("k", SESSION_URI) == ResumableStatus("expired", 0)
    storage.cancel_resumable("k", SESSION_URI)
    with pytest.raises(StorageNotFound):
        storage_on(reply(404)).resumable_status("k", SESSION_URI)
    storage_on(reply(404)).cancel_resumable("k", SESSION_URI)


def test_a_request_that_cannot_be_sent_is_not_transient() -> None:
    proto = protocol(_raise(requests.exceptions.InvalidURL(f"bad {SESSION_URI}")))
    with pytest.raises(StorageError) as info:
        proto.status(SESSION_URI)
    assert type(info.value) is StorageError
    assert "SECRET" not in str(info.value)


# -- retry budget --------------------------------------------------------------


def sequence(*answers: int | Exception) -> FakeSession:
    """Answers the scripted statuses (or raises the exceptions) in turn."""
    queue = list(answers)

    def respond(call: Call) -> FakeResponse:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        headers = {"Range": "bytes=0-9"} if answer == 308 else {"Location": SESSION_URI}
        return FakeResponse(answer, CaseInsensitiveDict(headers))

    return FakeSession(respond)


@pytest.mark.parametrize(
    "transient",
    [503, 429, 408, requests.ConnectionError("reset"), requests.ReadTimeout("slow")],
)
def test_transient_failures_are_retried_within_the_budget(transient: int | Exception) -> None:
    session, sleeps = sequence(transient, transient, 308), Sleeps()

    status = protocol(session, retry_timeout=30.0, sleeps=sleeps).status(SESSION_URI)

    assert status == ResumableStatus("in_progress", 10)
    assert len(session.calls) == 3
    assert len(sleeps.slept) == 2
    assert all(0 < s <= 8 for s in sleeps.slept)


def test_create_and_cancel_are_retried_too() -> None:
    create, cancel = sequence(503, 200), sequence(502, 499)

    protocol(create, retry_timeout=30.0).create("k", content_type="t/p", size=1, origin=None)
    protocol(cancel, retry_timeout=30.0).cancel(SESSION_URI)

    assert (len(create.calls), len(cancel.calls)) == (2, 2)


def test_a_zero_budget_means_a_single_attempt() -> None:
    session, sleeps = sequence(503, 308), Sleeps()

    with pytest.raises(StorageUnavailable, match="HTTP 503"):
        protocol(session, retry_timeout=0.0, sleeps=sleeps).status(SESSION_URI)

    assert len(session.calls) == 1
    assert sleeps.slept == []


def test_the_budget_bounds_the_retries() -> None:
    session, sleeps = sequence(503), Sleeps()

    with pytest.raises(StorageUnavailable, match="HTTP 503"):
        protocol(session, retry_timeout=10.0, sleeps=sleeps).status(SESSION_URI)

    assert sum(sleeps.slept) <= 10.0
    assert 2 <= len(session.calls) <= 8


@pytest.mark.parametrize("status", [400, 403, 404, 410, 412, 499])
def test_definite_answers_are_never_retried(status: int) -> None:
    session = sequence(status, 308)

    with contextlib.suppress(StorageError):
        protocol(session, retry_timeout=30.0).status(SESSION_URI)

    assert len(session.calls) == 1
