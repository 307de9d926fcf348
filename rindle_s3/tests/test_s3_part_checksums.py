"""CRC32 part checksums on moto: computed by the client, signed into each part URL.

moto stores parts without checking their checksums, so what is proved here
is the binding (a front that recomputes every signature refuses another
checksum header), the checksums the client computes, and that the upload is
created and completed with CRC32 (moto then reports the object's composite
CRC32).
"""

from __future__ import annotations

import base64
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from rindle_core import (
    Broker,
    Database,
    InvalidArgument,
    PresignedRequest,
    Profile,
    TransferFailed,
)
from rindle_core.client import RetryPolicy, UploadClient
from rindle_core.plugins import make_plugin_manager
from rindle_core.storage import PartChecksum
from rindle_core.testing import CheckingFront
from rindle_s3 import S3Storage

PART = 5 * 1024 * 1024
FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05)


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


class Headers:
    """The checksum header of every part PUT the front forwards; refuses some once."""

    def __init__(self) -> None:
        self.sent: dict[int, list[str | None]] = {}
        self.refuse_once: set[int] = set()

    def __call__(
        self, method: str, host: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, str] | None:
        if method != "PUT" or "partNumber=" not in target:
            return None
        number = int(target.split("partNumber=")[1].split("&")[0])
        lowered = {k.lower(): v for k, v in headers.items()}
        self.sent.setdefault(number, []).append(lowered.get("x-amz-checksum-crc32"))
        if number in self.refuse_once:
            self.refuse_once.discard(number)
            return (403, "AccessDenied")  # as S3 answers an expired URL
        return None


@pytest.fixture
def seen() -> Headers:
    return Headers()


@pytest.fixture
def front(s3_endpoint: str, seen: Headers) -> Iterator[CheckingFront]:
    # Records what each part carries (signatures: the next test and the contract).
    server = CheckingFront(s3_endpoint, marker="X-Amz-Signature=", refuse=seen)
    yield server
    server.close()


@pytest.fixture
def checked(make_storage: Callable[..., S3Storage], bucket: str, front: CheckingFront) -> S3Storage:
    return make_storage(bucket, endpoint_url=front.url, part_checksums=True)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * (4 * PART // 256) + b"tail" * 999)  # 5 parts
    return path


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + PART] for i in range(0, len(data), PART)]


def test_each_part_is_signed_and_sent_with_its_crc32(
    checked: S3Storage, data_file: Path, seen: Headers, admin_client: Any, bucket: str
) -> None:
    key = f"k/{uuid.uuid4().hex}.bin"
    upload = checked.create_multipart(
        key, content_type="application/octet-stream", checksum_algorithm="crc32"
    )
    size = data_file.stat().st_size
    calls: list[tuple[list[int], list[str]]] = []

    def sign(numbers: Sequence[int], checksums: Sequence[str]) -> Sequence[PresignedRequest]:
        calls.append((list(numbers), list(checksums)))
        return [
            checked.presign_part(
                key,
                upload.upload_id,
                n,
                expires_in=600,
                content_length=min(PART, size - (n - 1) * PART),
                checksum=PartChecksum("crc32", value),
            )
            for n, value in zip(numbers, checksums, strict=True)
        ]

    seen.refuse_once = {3}
    with UploadClient(timeout=30, retry=FAST) as client:
        parts = client.upload_parts(
            data_file, part_size=PART, sign=sign, concurrency=2, checksum_algorithm="crc32"
        )
    expected = [crc32(chunk) for chunk in _chunks(data_file.read_bytes())]
    assert [p.checksum for p in parts] == [PartChecksum("crc32", v) for v in expected]
    signed = {n: v for numbers, values in calls for n, v in zip(numbers, values, strict=True)}
    assert signed == dict(enumerate(expected, start=1))
    assert max(len(numbers) for numbers, _ in calls) <= 2  # batches of `concurrency`
    assert [numbers for numbers, _ in calls].count([3]) == 1  # refused once: signed again
    assert {n: set(values) for n, values in seen.sent.items()} == {
        n: {v} for n, v in enumerate(expected, start=1)
    }
    checked.complete_multipart(
        key, upload.upload_id, parts, content_type="application/octet-stream"
    )
    head = admin_client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    # S3's composite checksum: the CRC32 of the parts' CRC32s (created with CRC32).
    composite = crc32(b"".join(base64.b64decode(v) for v in expected))
    assert head["ChecksumCRC32"].split("-")[0] == composite
    stored = admin_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored == data_file.read_bytes()


def test_a_part_url_refuses_another_checksum(
    make_storage: Callable[..., S3Storage],
    bucket: str,
    signed_s3_endpoint: str,
    signature_front: Any,
    unique_key: str,
) -> None:
    checked = make_storage(bucket, endpoint_url=signed_s3_endpoint, part_checksums=True)
    upload = checked.create_multipart(
        unique_key, content_type="application/octet-stream", checksum_algorithm="crc32"
    )
    request = checked.presign_part(
        unique_key,
        upload.upload_id,
        1,
        expires_in=60,
        content_length=3,
        checksum=PartChecksum.of("crc32", b"abc"),
    )
    forged = PresignedRequest(
        url=request.url,
        method="PUT",
        headers={**request.headers, "x-amz-checksum-crc32": crc32(b"abd")},
    )
    signature_front.refused.clear()
    with pytest.raises(TransferFailed) as refused:
        UploadClient(retry=FAST).put_bytes(forged, b"abd")
    assert refused.value.status == 403
    assert signature_front.refused == ["SignatureDoesNotMatch"]
    assert checked.list_parts(unique_key, upload.upload_id) == []


def test_without_the_option_a_custom_endpoint_binds_none(
    make_storage: Callable[..., S3Storage], bucket: str, tmp_path: Path
) -> None:
    plain = make_storage(bucket)
    assert plain.part_limits.checksum_algorithms == frozenset()
    database = Database("sqlite:///" + str(tmp_path / "r.db"))
    database.create_all()
    broker = Broker(
        database,
        profiles=[Profile(name="p", storage="s3")],
        storages={"s3": plain},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
    )
    with pytest.raises(InvalidArgument, match="cannot bind crc32"):
        broker.initiate_multipart_session(
            "p", filename="a.bin", content_type="application/octet-stream", size=10,
            checksum_algorithm="crc32",
        )  # fmt: skip
    assert broker.list_sessions() == []
    database.close()
