"""A slow CompleteMultipartUpload is waited for, not re-sent (ADR 0119).

S3 may take minutes to assemble a large object and an S3-compatible server
may send nothing until it is done; botocore re-sends a request whose answer
timed out, which doubles the server's work (moto then also answers the
second request with an error). The adapter gives that one call a read
timeout of at least ``COMPLETE_READ_TIMEOUT``. Here a front holds the
complete longer than the storage's ``read_timeout`` and counts what reaches it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from rindle_core import UploadedPart
from rindle_core.testing import CheckingFront
from rindle_s3 import S3Storage
from rindle_s3._adapter import COMPLETE_READ_TIMEOUT


class SlowComplete:
    """Holds every CompleteMultipartUpload (``POST ?uploadId=``) *delay* seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.completes = 0
        self.lock = threading.Lock()

    def __call__(
        self, method: str, host: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, str] | None:
        if method == "POST":
            with self.lock:
                self.completes += 1
            time.sleep(self.delay)
        return None  # forwarded to moto


def test_a_complete_slower_than_the_read_timeout_is_sent_once(
    s3_endpoint: str, bucket: str, admin_client: Any, make_storage: Callable[..., S3Storage]
) -> None:
    slow = SlowComplete(delay=2.5)
    front = CheckingFront(s3_endpoint, marker="uploadId=", refuse=slow)
    try:
        storage = make_storage(bucket, endpoint_url=front.url, read_timeout=1, max_attempts=3)
        key = f"slow/{uuid.uuid4().hex}"
        upload = storage.create_multipart(key, content_type="application/octet-stream")
        sent = admin_client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload.upload_id, PartNumber=1, Body=b"x" * 1000
        )
        part = UploadedPart(1, sent["ETag"], 1000)
        storage.complete_multipart(
            key, upload.upload_id, [part], content_type="application/octet-stream"
        )
        assert slow.completes == 1  # waited for, not re-sent after 1 s
        assert admin_client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x" * 1000
        # Every other call keeps the configured read timeout.
        assert storage.client.meta.config.read_timeout == 1
        storage.close()
    finally:
        front.close()


def test_a_long_read_timeout_needs_no_second_client(
    bucket: str, make_storage: Callable[..., S3Storage]
) -> None:
    storage = make_storage(bucket, read_timeout=COMPLETE_READ_TIMEOUT)
    assert storage._complete_client() is storage.client
    short = make_storage(bucket, read_timeout=5)
    completer: Any = short._complete_client()
    assert completer is not short.client
    assert completer.meta.config.read_timeout == COMPLETE_READ_TIMEOUT
    assert completer.meta.config.connect_timeout == short.client.meta.config.connect_timeout
    assert short._complete_client() is completer  # built once
