"""S3Storage passes rindle's storage-adapter contract suite against the moto server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from rindle_core.testing import StorageAdapterContract
from rindle_s3 import S3Storage


class TestS3Contract(StorageAdapterContract):
    """Against moto behind the signature-checking front (see conftest.py).

    moto itself accepts any signature; the front recomputes each presigned
    URL's signature with botocore's signer and checks its expiry, as S3
    would. moto enforces ``If-None-Match: *`` on PutObject and
    CompleteMultipartUpload and serves ``response-content-*`` overrides, so
    every create-only, expiry and response-header test runs for real.
    CRC32 part checksums are on (as on AWS): moto stores parts without
    checking them, so the contract proves the binding by the signature only.
    """

    checks_signatures = True
    enforces_create_only = True
    enforces_expiry = True
    sets_response_headers = True
    verifies_part_checksums = False

    @pytest.fixture
    def adapter(
        self, make_storage: Callable[..., S3Storage], bucket: str, signed_s3_endpoint: str
    ) -> S3Storage:
        return make_storage(bucket, endpoint_url=signed_s3_endpoint, part_checksums=True)

    @pytest.fixture
    def adapter_secrets(self, aws_secrets: list[str]) -> list[str]:
        return aws_secrets

    @pytest.fixture
    def missing_bucket_adapter(
        self, make_storage: Callable[..., S3Storage], signed_s3_endpoint: str
    ) -> S3Storage:
        return make_storage(
            f"rindle-missing-{uuid.uuid4().hex[:12]}", endpoint_url=signed_s3_endpoint
        )
