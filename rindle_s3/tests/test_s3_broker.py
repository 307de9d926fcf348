"""End to end through the broker on moto: the shared broker contract, and S3's signed headers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rindle_core import Broker, Database, Profile
from rindle_core.plugins import make_plugin_manager
from rindle_core.testing import BrokerContract
from rindle_s3 import S3Storage


class TestS3BrokerContract(BrokerContract):
    """Against moto behind the signature-checking front (see conftest.py).

    moto enforces ``If-None-Match: *`` on PutObject and CompleteMultipartUpload
    and serves ``response-content-*`` overrides; the front refuses a request
    that breaks its signature. Parts are S3's minimum, 5 MiB.
    """

    enforces_post_policy = False  # moto checks no POST policy: see test_s3_post.py

    @pytest.fixture
    def adapter(
        self, make_storage: Callable[..., S3Storage], bucket: str, signed_s3_endpoint: str
    ) -> S3Storage:
        # CRC32 part checksums on, as on AWS: the checksum flow runs too.
        return make_storage(bucket, endpoint_url=signed_s3_endpoint, part_checksums=True)


def test_the_broker_signs_the_type_the_length_and_create_only(
    storage: S3Storage, tmp_path: Path
) -> None:
    database = Database("sqlite:///" + str(tmp_path / "rindle.db"))
    database.create_all()
    broker = Broker(
        database,
        profiles=[Profile(name="docs", storage="main", allow_mime=["application/pdf"])],
        storages={"main": storage},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
    )
    session = broker.initiate_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=300_000
    )
    signed = broker.sign_url(session.id).presigned
    assert signed.headers == {
        "Content-Type": "application/pdf",
        "Content-Length": "300000",
        "If-None-Match": "*",
    }
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match" in signed.url
    database.close()
