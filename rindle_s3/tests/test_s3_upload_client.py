"""The upload client against moto over real HTTP, behind fronts that misbehave.

A :class:`~rindle_core.testing.CheckingFront` forwards to moto; its refusal
hook is used here to fail some part requests (once), to refuse a part URL as
expired, or to hold requests (a slow server). The bytes that reach moto are
checked by downloading the completed object.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rindle_core import PresignedRequest, TransferFailed
from rindle_core.client import RetryPolicy, UploadClient
from rindle_core.testing import CheckingFront
from rindle_s3 import S3Storage

PART = 5 * 1024 * 1024  # S3's smallest part
FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05)


def _part_number(target: str) -> int:
    return int(parse_qs(urlsplit(target).query).get("partNumber", ["0"])[0])


class Behaviour:
    """What the front does with each part request; records the part numbers seen."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.lock = threading.Lock()
        self.rule: Callable[[int, int], tuple[int, str] | None] = lambda n, k: None

    def __call__(
        self, method: str, host: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, str] | None:
        if method != "PUT":
            return None
        number = _part_number(target)  # 0: a single PUT
        with self.lock:
            self.seen.append(number)
            times = self.seen.count(number)
        return self.rule(number, times)


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


@pytest.fixture
def front(s3_endpoint: str, behaviour: Behaviour) -> Iterator[CheckingFront]:
    server = CheckingFront(s3_endpoint, marker="X-Amz-Signature=", refuse=behaviour)
    yield server
    server.close()


@pytest.fixture
def storage(front: CheckingFront, bucket: str, make_storage: Callable[..., S3Storage]) -> S3Storage:
    return make_storage(bucket, endpoint_url=front.url)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    block = hashlib.sha256(b"rindle").digest() * (PART // 32)
    path.write_bytes(block * 4 + b"tail" * 1000)  # 5 parts, the last one short
    return path


def _signer(storage: S3Storage, key: str, upload_id: str, size: int) -> Any:
    calls: list[list[int]] = []

    def sign(numbers: Sequence[int]) -> Sequence[PresignedRequest]:
        calls.append(list(numbers))
        return [
            storage.presign_part(
                key,
                upload_id,
                n,
                expires_in=600,
                content_length=min(PART, size - (n - 1) * PART),
            )
            for n in numbers
        ]

    sign.calls = calls  # type: ignore[attr-defined]
    return sign


def _upload(
    storage: S3Storage, path: Path, *, concurrency: int = 3, policy: RetryPolicy = FAST
) -> tuple[str, Any, list[Any]]:
    key = f"k/{uuid.uuid4().hex}.bin"
    upload = storage.create_multipart(key, content_type="application/octet-stream")
    sign = _signer(storage, key, upload.upload_id, path.stat().st_size)
    with UploadClient(timeout=30, retry=policy) as client:
        parts = client.upload_parts(path, part_size=PART, sign=sign, concurrency=concurrency)
    storage.complete_multipart(
        key, upload.upload_id, parts, content_type="application/octet-stream"
    )
    return key, sign, parts


def _stored(admin_client: Any, bucket: str, key: str) -> bytes:
    body: bytes = admin_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_parts_arrive_whole_over_reused_connections(
    storage: S3Storage, data_file: Path, behaviour: Behaviour, admin_client: Any, bucket: str
) -> None:
    key, sign, parts = _upload(storage, data_file)
    assert [p.part_number for p in parts] == [1, 2, 3, 4, 5]
    assert all(p.etag for p in parts)
    assert sorted(behaviour.seen) == [1, 2, 3, 4, 5]
    assert sign.calls == [[1, 2, 3, 4, 5]]  # one batch, signed just before sending
    assert _stored(admin_client, bucket, key) == data_file.read_bytes()


def test_a_part_that_fails_once_is_retried_alone(
    storage: S3Storage, data_file: Path, behaviour: Behaviour, admin_client: Any, bucket: str
) -> None:
    behaviour.rule = lambda n, times: (503, "SlowDown") if n in (2, 4) and times == 1 else None
    key, _, _ = _upload(storage, data_file)
    assert sorted(behaviour.seen) == [1, 2, 2, 3, 4, 4, 5]
    assert _stored(admin_client, bucket, key) == data_file.read_bytes()


def test_a_refused_part_url_is_signed_again(
    storage: S3Storage, data_file: Path, behaviour: Behaviour, admin_client: Any, bucket: str
) -> None:
    # S3 answers an expired presigned URL 403 AccessDenied ("Request has expired").
    behaviour.rule = lambda n, times: (403, "AccessDenied") if n == 3 and times == 1 else None
    key, sign, _ = _upload(storage, data_file)
    assert sign.calls == [[1, 2, 3, 4, 5], [3]]
    assert _stored(admin_client, bucket, key) == data_file.read_bytes()


def test_an_expired_url_is_signed_again_before_it_is_sent(
    storage: S3Storage, data_file: Path, behaviour: Behaviour
) -> None:
    key = f"k/{uuid.uuid4().hex}.bin"
    upload = storage.create_multipart(key, content_type="application/octet-stream")
    size = data_file.stat().st_size
    fresh = _signer(storage, key, upload.upload_id, size)
    calls: list[list[int]] = []

    def sign(numbers: Sequence[int]) -> Sequence[PresignedRequest]:
        calls.append(list(numbers))
        signed = fresh(numbers)
        if len(calls) == 1:  # the first batch comes back already expiring
            return [
                PresignedRequest(url=r.url, method=r.method, headers=r.headers, expires_at=None)
                if r.part_number == 1
                else _expired(r)
                for r in signed
            ]
        return signed

    with UploadClient(timeout=30, retry=FAST) as client:
        parts = client.upload_parts(data_file, part_size=PART, sign=sign, concurrency=1)
    assert [p.part_number for p in parts] == [1, 2, 3, 4, 5]
    assert calls[0] == [1, 2, 3, 4, 5]
    assert sorted(n for batch in calls[1:] for n in batch) == [2, 3, 4, 5]
    assert sorted(behaviour.seen) == [1, 2, 3, 4, 5]  # no expired URL was sent


def _expired(request: PresignedRequest) -> PresignedRequest:
    import datetime as dt

    return PresignedRequest(
        url=request.url,
        method=request.method,
        headers=request.headers,
        expires_at=dt.datetime.now(dt.UTC),
        part_number=request.part_number,
    )


def test_a_part_that_keeps_failing_fails_the_upload_after_its_attempts(
    storage: S3Storage, data_file: Path, behaviour: Behaviour
) -> None:
    behaviour.rule = lambda n, times: (500, "InternalError") if n == 2 else None
    with pytest.raises(TransferFailed) as caught:
        _upload(storage, data_file, concurrency=1)
    assert caught.value.retryable
    assert caught.value.status == 500
    assert behaviour.seen.count(2) == FAST.attempts
    assert "X-Amz-Signature" not in str(caught.value)


def test_a_fatal_answer_stops_the_parts_in_flight_at_once(
    storage: S3Storage, data_file: Path, behaviour: Behaviour
) -> None:
    """Part 1 is refused for good while parts 2 and 3 hang on a slow server:
    the upload raises before they are released, and no other part starts."""
    release = threading.Event()
    raised_before_release: list[bool] = []

    def rule(number: int, times: int) -> tuple[int, str] | None:
        if number == 1:
            return (400, "InvalidArgument")  # final: neither retried nor re-signed
        release.wait(30)
        return None

    behaviour.rule = rule
    try:
        with pytest.raises(TransferFailed) as caught:
            _upload(storage, data_file, concurrency=3)
        raised_before_release.append(not release.is_set())
    finally:
        release.set()
    assert raised_before_release == [True]
    assert caught.value.status == 400 and not caught.value.retryable
    # Only the three parts in flight ever reached the server: 4 and 5 never started.
    assert 1 in behaviour.seen and set(behaviour.seen) <= {1, 2, 3}


def test_ctrl_c_stops_the_parts_in_flight_at_once(
    storage: S3Storage, data_file: Path, behaviour: Behaviour
) -> None:
    """KeyboardInterrupt reaches the caller while parts hang on a slow server."""
    release = threading.Event()
    arrived = threading.Semaphore(0)
    lock, hanging = threading.Lock(), []

    def rule(number: int, times: int) -> tuple[int, str] | None:
        arrived.release()
        with lock:
            hanging.append(number)
            both_in_flight = len(hanging) == 2
        if both_in_flight:  # whichever of the two concurrent parts arrives second
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
        release.wait(30)
        return None

    behaviour.rule = rule
    interrupted_before_release: list[bool] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            _upload(storage, data_file, concurrency=2)
        interrupted_before_release.append(not release.is_set())
    finally:
        release.set()
    assert interrupted_before_release == [True]
    assert sorted(behaviour.seen) == [1, 2]  # nothing was sent after the interrupt
    assert arrived.acquire(timeout=0)


def test_skip_sends_only_the_missing_parts(
    storage: S3Storage, data_file: Path, behaviour: Behaviour, admin_client: Any, bucket: str
) -> None:
    """What ``rindle upload --resume`` does: parts storage holds are not sent again."""
    key = f"k/{uuid.uuid4().hex}.bin"
    upload = storage.create_multipart(key, content_type="application/octet-stream")
    sign = _signer(storage, key, upload.upload_id, data_file.stat().st_size)
    with UploadClient(timeout=30, retry=FAST) as client:
        first = client.upload_parts(data_file, part_size=PART, sign=sign, skip={3, 4, 5})
        held = storage.list_parts(key, upload.upload_id)
        rest = client.upload_parts(
            data_file, part_size=PART, sign=sign, skip={p.part_number for p in held}
        )
    assert [p.part_number for p in first] == [1, 2]
    assert [p.part_number for p in rest] == [3, 4, 5]
    assert sorted(behaviour.seen) == [1, 2, 3, 4, 5]
    storage.complete_multipart(
        key, upload.upload_id, [*first, *rest], content_type="application/octet-stream"
    )
    assert _stored(admin_client, bucket, key) == data_file.read_bytes()


def test_a_single_put_is_retried_and_re_signed(
    storage: S3Storage, tmp_path: Path, behaviour: Behaviour, admin_client: Any, bucket: str
) -> None:
    answers = {1: (503, "SlowDown"), 2: (403, "AccessDenied")}
    behaviour.rule = lambda number, times: answers.get(times)
    path = tmp_path / "one.bin"
    path.write_bytes(b"x" * 100_000)
    key = f"k/{uuid.uuid4().hex}.bin"
    signed: list[int] = []

    def sign() -> PresignedRequest:
        signed.append(1)
        return storage.presign_put(
            key, content_type="application/octet-stream", content_length=100_000, expires_in=600
        )

    with UploadClient(timeout=30, retry=FAST) as client:
        reply = client.put(sign(), path, resign=sign)
    assert reply.is_success
    assert behaviour.seen == [0, 0, 0]  # 503 retried, 403 re-signed, then stored
    assert len(signed) == 2
    assert _stored(admin_client, bucket, key) == path.read_bytes()
