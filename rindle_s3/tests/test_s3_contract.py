"""S3Storage passes rindle's storage-adapter contract suite against the moto server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rindle_core.testing import StorageAdapterContract
from rindle_s3 import S3Storage


class TestS3Contract(StorageAdapterContract):
    """Against moto behind the signature-checking front (see conftest.py).

    moto itself accepts any signature; the front recomputes each presigned
    URL's signature with botocore's signer, as S3 would.
    """

    checks_signatures = True

    @pytest.fixture
    def adapter(
        self, make_storage: Callable[..., S3Storage], bucket: str, signed_s3_endpoint: str
    ) -> S3Storage:
        return make_storage(bucket, endpoint_url=signed_s3_endpoint)

    @pytest.fixture
    def adapter_secrets(self, aws_secrets: list[str]) -> list[str]:
        return aws_secrets
