"""rindle's storage-adapter contract suite against gcp-storage-emulator.

The emulator checks no V4 signature, so the contract runs behind
``signing_front`` (``conftest.py``, ADR 0026), which recomputes each signed
request's signature with google-cloud-storage's own signer and checks its
expiry, as GCS does: ``checks_signatures`` (and with it expiry) is on.

Flags set False, each for a rule neither emulator (nor the front) enforces
(see ``docs/storage/gcs.md``), and where the rule is proven instead:

* ``enforces_create_only``: ``x-goog-if-generation-match: 0`` on a signed
  PUT and ``ifGenerationMatch=0`` on a resumable session are ignored (GCS
  answers 412). Proof: the header is signed exactly as the SDK signs it
  (``test_gcs_signing.py``), the front refuses a PUT that leaves it out, the
  requests carry it, and ``0`` refuses an existing object on the JSON API
  call fake-gcs-server enforces it for (``test_gcs_create_only.py``).
* ``sets_response_headers``: gcp-storage-emulator ignores
  ``response-content-type`` (it honours the disposition override);
  fake-gcs-server ignores both. Proof: identity with the SDK's
  ``response_type`` / ``response_disposition`` / ``generation`` URL, the
  front refusing a tampered override, and the disposition served
  (``test_gcs_versions.py``, ``test_gcs_signatures.py``).

The tests marked ``xfail(strict)`` fail for a reason outside this adapter,
named in the marker; strictness makes them fail loudly once the reason goes
away.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from rindle_core.client import UploadClient
from rindle_core.testing import StorageAdapterContract
from rindle_gcs import GCSStorage, create_storage

if TYPE_CHECKING:
    from conftest import Emulator

_EMULATOR_STATUS_GAP = (
    "gcp-storage-emulator: a completed session is forgotten (status -> 404, GCS: 200) and "
    "DELETE on a session URI is not implemented (501, GCS: 499)"
)
_EMULATOR_FRESH_GAP = (
    "gcp-storage-emulator: a fresh session reports Range bytes=0-0 (1 byte, GCS: no Range) and "
    "DELETE on a session URI is not implemented (501, GCS: 499); both flows are covered on "
    "fake-gcs-server and with a scripted fake in test_gcs_resumable_protocol.py"
)
_EMULATOR_NO_FORM_POST = (
    "gcp-storage-emulator has no form POST (501); the POST checks run on fake-gcs-server "
    "behind a policy-checking front in test_gcs_post.py"
)
_EMULATOR_EMPTY_PUT_GAP = (
    "gcp-storage-emulator: a PUT with an empty body crashes its handler (len(None)) and "
    "drops the connection"
)


class TestGCSContract(StorageAdapterContract):
    """The shared contract, on the ``gcs`` adapter."""

    checks_signatures = True
    enforces_create_only = False
    sets_response_headers = False

    @pytest.fixture
    def adapter(self, signed_storage: GCSStorage) -> GCSStorage:
        return signed_storage

    @pytest.fixture
    def missing_bucket_adapter(
        self, gcs_emulator: Emulator, service_account_key: Path
    ) -> GCSStorage:
        return create_storage(
            bucket=f"{gcs_emulator.create_bucket()}-absent",
            endpoint_url=gcs_emulator.url,
            credentials_file=str(service_account_key),
            retry_timeout=1,
        )

    @pytest.fixture
    def adapter_secrets(self, service_account_key: Path) -> list[str]:
        import json

        info = json.loads(service_account_key.read_text())
        return [info["private_key_id"], *info["private_key"].splitlines()[1:-1]]

    @pytest.mark.xfail(strict=True, reason=_EMULATOR_EMPTY_PUT_GAP)
    def test_empty_object_roundtrip(  # type: ignore[override]
        self, adapter: GCSStorage, upload_client: UploadClient
    ) -> None:
        super().test_empty_object_roundtrip(adapter, upload_client)

    @pytest.mark.xfail(strict=True, reason=_EMULATOR_STATUS_GAP)
    def test_resumable_roundtrip(  # type: ignore[override]
        self, adapter: GCSStorage, upload_client: UploadClient, tmp_path: Path
    ) -> None:
        super().test_resumable_roundtrip(adapter, upload_client, tmp_path)

    @pytest.mark.xfail(strict=True, reason=_EMULATOR_FRESH_GAP)
    def test_resumable_status_then_cancel(self, adapter: GCSStorage) -> None:  # type: ignore[override]
        super().test_resumable_status_then_cancel(adapter)

    @pytest.mark.xfail(strict=True, reason=_EMULATOR_NO_FORM_POST)
    def test_post_stores_the_object_with_the_bound_type(  # type: ignore[override]
        self, adapter: GCSStorage, http_client: httpx.Client
    ) -> None:
        super().test_post_stores_the_object_with_the_bound_type(adapter, http_client)
