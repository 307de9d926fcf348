"""Part checksums: the value type, the file checksum, part lists, the local receiver,
and the upload API's fields (local backend over real HTTP)."""

from __future__ import annotations

import base64
import io
import os
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rindle_core import InvalidArgument, InvalidParts
from rindle_core._checksums import PartChecksum, RunningChecksum, file_checksum
from rindle_core._decisions import normalise_parts
from rindle_core.local._staging import PART_LIMITS, BadDigest, Staging
from rindle_core.storage import UploadedPart


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@given(st.binary(max_size=3000), st.integers(1, 700))
@settings(max_examples=60, deadline=None)
def test_a_checksum_streamed_in_pieces_is_the_checksum_of_the_whole(
    data: bytes, piece: int
) -> None:
    running = RunningChecksum("crc32")
    for start in range(0, len(data), piece):
        running.update(data[start : start + piece])
    assert running.result() == PartChecksum.of("crc32", data) == PartChecksum("crc32", crc32(data))


@given(st.binary(min_size=1, max_size=4000), st.data())
@settings(max_examples=40, deadline=None)
def test_file_checksum_reads_exactly_the_part(
    tmp_path_factory: Any, data: bytes, draw: Any
) -> None:
    offset = draw.draw(st.integers(0, len(data) - 1))
    length = draw.draw(st.integers(0, len(data) - offset))
    path = tmp_path_factory.mktemp("f") / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert file_checksum("crc32", fd, offset, length).value == crc32(
            data[offset : offset + length]
        )
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0  # pread: the position is not moved
    finally:
        os.close(fd)


def test_a_file_shorter_than_the_part_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError, match="ended at byte 3"):
            file_checksum("crc32", fd, 0, 10)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("algorithm", "value"),
    [
        ("md5", "AAAAAA=="),
        ("CRC32", "AAAAAA=="),
        ("crc32", ""),
        ("crc32", "AAAA"),  # three bytes
        ("crc32", "AAAAAAAA"),  # six bytes
        ("crc32", "not base64!"),
        ("crc32", "AAAAAA==" * 20),
        ("crc32", "AAAA\nAA=="),
    ],
)
def test_a_malformed_checksum_is_a_typed_error(algorithm: str, value: str) -> None:
    with pytest.raises(InvalidArgument):
        PartChecksum(algorithm, value)


def test_part_lists_carry_checksums_in_the_sessions_algorithm() -> None:
    parts = normalise_parts(
        [
            {"part_number": 2, "etag": '"b"', "checksum": "AAAAAQ=="},
            {"part_number": 1, "etag": "a"},
        ],
        PART_LIMITS,
        checksum_algorithm="crc32",
    )
    assert [p.checksum for p in parts] == [None, PartChecksum("crc32", "AAAAAQ==")]
    refusals: list[tuple[list[Any], str | None]] = [
        ([{"part_number": 1, "etag": "a", "checksum": "AAAAAQ=="}], None),  # binds none
        ([{"part_number": 1, "etag": "a", "checksum": "zz"}], "crc32"),
        ([{"part_number": 1, "etag": "a", "checksum": 5}], "crc32"),
        ([UploadedPart(1, "a", checksum=PartChecksum("crc32", "AAAAAQ=="))], None),
    ]
    for bad, algorithm in refusals:
        with pytest.raises(InvalidParts):
            normalise_parts(bad, PART_LIMITS, checksum_algorithm=algorithm)


# -- the local receiver verifies what the URL binds -----------------------------------


def _staging(tmp_path: Path) -> Staging:
    from rindle_core.local._disk import Disk

    return Staging(Disk(tmp_path))


def test_local_staging_keeps_a_part_only_with_the_bound_checksum(tmp_path: Path) -> None:
    staging = _staging(tmp_path)
    upload = staging.create("k.bin", "application/octet-stream", "crc32")
    data = b"part one" * 1000
    with pytest.raises(BadDigest):
        staging.write_part("k.bin", upload, 1, io.BytesIO(data), length=len(data))  # none
    with pytest.raises(BadDigest):
        staging.write_part(
            "k.bin", upload, 1, io.BytesIO(data), length=len(data), checksum=crc32(b"other")
        )
    assert staging.list_parts("k.bin", upload) == []  # nothing kept
    part = staging.write_part(
        "k.bin", upload, 1, io.BytesIO(data), length=len(data), checksum=crc32(data)
    )
    assert staging.list_parts("k.bin", upload) == [part]

    plain = staging.create("p.bin", "application/octet-stream")
    with pytest.raises(BadDigest):  # an upload that binds none takes none
        staging.write_part(
            "p.bin", plain, 1, io.BytesIO(data), length=len(data), checksum=crc32(data)
        )


def test_the_upload_api_takes_checksums_for_a_session_that_binds_them(
    tmp_path: Path,
) -> None:
    from rindle_core import Broker, Database, Profile
    from rindle_core.local import LocalStorage
    from rindle_core.plugins import make_plugin_manager
    from rindle_core.web import UploadAPI
    from rindle_core.web.wsgi import create_app

    storage = LocalStorage(tmp_path / "store", base_url="http://files.invalid")
    database = Database("sqlite:///" + str(tmp_path / "r.db"))
    database.create_all()
    broker = Broker(
        database,
        profiles=[Profile(name="p", storage="local")],
        storages={"local": storage},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
    )
    api = UploadAPI(broker, authorize=lambda request, action, profile, session: "u1")
    app = create_app(api)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://app") as web:
        opened = web.post(
            "/uploads",
            json={
                "profile": "p",
                "strategy": "multipart",
                "filename": "a.bin",
                "content_type": "application/octet-stream",
                "size": 10,
                "checksum_algorithm": "crc32",
            },
        )
        assert opened.status_code == 201, opened.text
        body = opened.json()
        assert body["multipart"]["checksum_algorithm"] == "crc32"
        assert body["session"]["checksum_algorithm"] == "crc32"
        sid = body["session"]["id"]
        missing = web.post(f"/uploads/{sid}/parts", json={"part_numbers": [1]})
        assert missing.status_code == 400, missing.text
        signed = web.post(
            f"/uploads/{sid}/parts", json={"part_numbers": [1], "checksums": [crc32(b"0" * 10)]}
        )
        assert signed.status_code == 200, signed.text
        assert "ck=" in signed.json()["parts"][0]["url"]
        for field in ({"checksum_algorithm": "md5"}, {"checksum_algorithm": 3}):
            refused = web.post(
                "/uploads",
                json={
                    "profile": "p",
                    "strategy": "multipart",
                    "filename": "b.bin",
                    "content_type": "application/octet-stream",
                    **field,
                },
            )
            assert refused.status_code == 400, refused.text
        single = web.post(
            "/uploads",
            json={
                "profile": "p",
                "filename": "c.bin",
                "content_type": "application/octet-stream",
                "checksum_algorithm": "crc32",
            },
        )
        assert single.status_code == 400  # only for multipart
    assert len(broker.list_sessions()) == 1
    database.close()
