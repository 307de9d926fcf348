"""GCS V4 POST policies: identity with google-cloud-storage, real form POSTs, the broker.

Neither emulator checks a POST policy: gcp-storage-emulator has no form POST
at all (501), and fake-gcs-server stores whatever a form sends, and only at
``/BUCKET`` (GCS and the SDK's URL: ``/BUCKET/``). The proof that GCS
accepts and enforces ours is therefore:

* the policy and its signature are byte-for-byte what
  ``Client.generate_signed_post_policy_v4`` makes for the same clock,
  service account, key, fields and conditions, and the RSA signature
  verifies with the account's public key;
* the POST checks of the contract kit run against fake-gcs-server behind a
  :class:`PostPolicyFront` that verifies the signature and judges the policy
  as GCS does (expiration, every condition, no uncovered field), and posts
  what it accepts to ``/BUCKET``: a body outside the size range, another
  type, another key or an expired policy is refused and stores nothing;
* the accepted form stores the object with the bound type, and the broker
  completes and promotes it.

GCS's POST takes no precondition (``x-goog-if-generation-match`` is no
form field) and replaces an existing object: not create-only (ADR 0103).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.oauth2 import service_account

from rindle_core import (
    AssetState,
    Broker,
    Capability,
    Database,
    Profile,
    SessionState,
    UploadUnsupported,
)
from rindle_core.plugins import make_plugin_manager
from rindle_core.testing import PostPolicyContract, PostPolicyFront, post_form
from rindle_gcs import GCSStorage, KeySigner, V4Signer, create_storage
from rindle_gcs._resumable import ResumableProtocol

if TYPE_CHECKING:
    from conftest import Emulator

NOW = dt.datetime(2026, 3, 14, 15, 9, 26, tzinfo=dt.UTC)
ENDPOINTS = ["https://storage.googleapis.com", "http://127.0.0.1:9023"]
KEYS = ["docs/2026/report.pdf", "with space/and+plus&amp=eq?#hash.bin", "unicode/naïve-ß-日本.txt"]


@pytest.fixture(scope="module")
def credentials(service_account_key: Path) -> Any:
    return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(service_account_key)
    )


@pytest.fixture
def frozen_sdk_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freeze the clock google-cloud-storage reads for POST policies (two modules)."""
    from google.cloud.storage import _signing as sdk_signing
    from google.cloud.storage import client as sdk_client

    def frozen(tz: dt.tzinfo | None = None) -> dt.datetime:
        return NOW.astimezone(tz)

    monkeypatch.setattr(sdk_signing, "_NOW", frozen)
    monkeypatch.setattr(sdk_client, "_NOW", frozen)


class NoHTTP:
    """An HTTP session these tests must never use."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        raise AssertionError("no HTTP request expected")


def offline_storage(signer: V4Signer | None, endpoint: str, bucket: str) -> GCSStorage:
    """An adapter whose clock is frozen at NOW (no network is touched)."""
    client = gcs.Client(project="p", credentials=AnonymousCredentials())
    return GCSStorage(
        bucket=client.bucket(bucket),
        resumable=ResumableProtocol(
            endpoint=endpoint, bucket=bucket, authorized=NoHTTP(), anonymous=NoHTTP(), timeout=1
        ),
        signer=signer,
        clock=lambda: NOW,
    )


def policy_of(fields: Mapping[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return document


# -- identity with the SDK -----------------------------------------------------------


@pytest.mark.usefixtures("frozen_sdk_clock")
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("key", KEYS)
def test_the_form_is_the_sdks(credentials: Any, endpoint: str, key: str) -> None:
    signer = V4Signer(KeySigner(credentials), endpoint=endpoint)
    got = offline_storage(signer, endpoint, "rindle-bucket").presign_post(
        key, content_type="application/pdf", min_size=2, max_size=9000, expires_in=900
    )
    client = gcs.Client(
        project="p", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
    )
    expected = client.generate_signed_post_policy_v4(
        "rindle-bucket",
        key,
        expiration=900,
        conditions=[["content-length-range", 2, 9000]],
        fields={"Content-Type": "application/pdf"},
        credentials=credentials,
    )
    assert list(got.fields.items()) == list(expected["fields"].items())
    assert got.url == expected["url"] == f"{endpoint}/rindle-bucket/"
    assert got.expires_at == NOW + dt.timedelta(seconds=900)
    assert got.create_only is False


@pytest.mark.usefixtures("frozen_sdk_clock")
def test_the_policy_binds_key_type_size_and_verifies(
    credentials: Any, service_account_key: Path
) -> None:
    signer = V4Signer(KeySigner(credentials), endpoint=ENDPOINTS[0])
    post = offline_storage(signer, ENDPOINTS[0], "b").presign_post(
        "k/a.png", content_type="image/png", min_size=7, max_size=7, expires_in=60
    )
    policy = policy_of(post.fields)
    assert policy["expiration"] == "2026-03-14T15:10:26Z"
    assert policy["conditions"][:4] == [
        ["content-length-range", 7, 7],
        {"Content-Type": "image/png"},
        {"bucket": "b"},
        {"key": "k/a.png"},
    ]
    public_key(service_account_key).verify(
        bytes.fromhex(post.fields["x-goog-signature"]),
        post.fields["policy"].encode("ascii"),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert post.fields["x-goog-signature"] not in repr(post)
    assert post.fields["policy"] not in repr(post)


def test_without_a_signer_post_is_withheld() -> None:
    storage = offline_storage(None, ENDPOINTS[0], "b")
    assert Capability.PRESIGNED_POST in storage.withheld
    assert Capability.PRESIGNED_POST not in storage.capabilities
    with pytest.raises(UploadUnsupported) as info:
        storage.presign_post("k", content_type="a/b", min_size=0, max_size=1, expires_in=60)
    assert info.value.capability is Capability.PRESIGNED_POST


# -- real form POSTs on fake-gcs-server ---------------------------------------------------


def _at_bucket_root(path: str) -> str:
    """fake-gcs-server routes a form POST at ``/BUCKET`` only; GCS takes ``/BUCKET/``."""
    return path.rstrip("/") if path.count("/") == 2 and path.endswith("/") else path


def public_key(service_account_key: Path) -> rsa.RSAPublicKey:
    """The public half of the test service account's key."""
    info = json.loads(service_account_key.read_text())
    private = load_pem_private_key(info["private_key"].encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return private.public_key()


@pytest.fixture(scope="module")
def policy_front(
    fake_gcs: Emulator, credentials: Any, service_account_key: Path
) -> Iterator[PostPolicyFront]:
    key = public_key(service_account_key)

    def verify(policy: str, fields: Mapping[str, str]) -> str | None:
        """GCS's check of a V4 POST policy: account, algorithm, scope, RSA signature."""
        credential = fields.get("x-goog-credential", "").split("/")
        date = fields.get("x-goog-date", "")
        if fields.get("x-goog-algorithm") != "GOOG4-RSA-SHA256":
            return "InvalidArgument"
        if credential != [credentials.signer_email, date[:8], "auto", "storage", "goog4_request"]:
            return "InvalidCredential"
        try:
            key.verify(
                bytes.fromhex(fields.get("x-goog-signature", "")),
                policy.encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "SignatureDoesNotMatch"
        return None

    front = PostPolicyFront(fake_gcs.url, verify=verify, rewrite=_at_bucket_root)
    yield front
    front.close()


@pytest.fixture
def posting_storage(
    fake_gcs: Emulator, policy_front: PostPolicyFront, service_account_key: Path
) -> GCSStorage:
    """A ``gcs`` storage on fake-gcs-server whose forms go through the policy front."""
    return create_storage(
        bucket=fake_gcs.create_bucket(),
        endpoint_url=policy_front.url,
        credentials_file=str(service_account_key),
        retry_timeout=5,
        read_timeout=30,
    )


class TestGCSPostPolicies(PostPolicyContract):
    """The kit's POST checks on fake-gcs-server behind a front that judges as GCS does."""

    enforces_post_policy = True
    post_is_create_only = False  # GCS's POST replaces an existing object

    @pytest.fixture
    def adapter(self, posting_storage: GCSStorage) -> GCSStorage:
        return posting_storage


def test_fake_gcs_server_enforces_no_post_policy(fake_storage: GCSStorage) -> None:
    """Why fake-gcs-server alone cannot show a refusal: it stores a body outside
    the range, of another type, under a broken signature (at ``/BUCKET``)."""
    post = fake_storage.presign_post(
        "lax/a.pdf", content_type="application/pdf", min_size=1, max_size=4, expires_in=60
    )
    forged = {**post.fields, "x-goog-signature": "00", "Content-Type": "text/html"}
    with httpx.Client() as client:
        response = client.post(
            post.url.rstrip("/"), data=forged, files={"file": ("f", b"far too long", "a/b")}
        )
    assert response.is_success
    head = fake_storage.head("lax/a.pdf")
    assert (head.size, head.content_type) == (12, "text/html")


def test_the_broker_flow_on_fake_gcs_server(posting_storage: GCSStorage, tmp_path: Path) -> None:
    """POST, verify, and promotion once the policy expired (GCS's POST can replace)."""
    database = Database("sqlite:///" + str(tmp_path / "rindle.db"))
    database.create_all()
    now = [dt.datetime.now(dt.UTC)]
    broker = Broker(
        database,
        profiles=[Profile(name="docs", storage="main", max_bytes=1000)],
        storages={"main": posting_storage},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
        job_mode="inline",
        clock=lambda: now[0],
    )
    session = broker.initiate_post_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=209
    )
    signed = broker.sign_post(session.id, expires_in=120)
    assert policy_of(signed.post.fields)["conditions"][0] == ["content-length-range", 209, 209]
    with httpx.Client() as client:
        assert post_form(client, signed.post, b"%PDF-1.4\n" + bytes(201)).status_code == 400
        assert post_form(client, signed.post, b"%PDF-1.4\n" + bytes(200)).is_success
    result = broker.verify_completion(session.id)
    assert result.session.state is SessionState.COMPLETED
    assert broker.get_asset(result.asset.id).state is AssetState.VALIDATING
    assert signed.session.urls_expire_at is not None
    now[0] = signed.session.urls_expire_at + broker.maintenance.cleanup_grace
    now[0] += dt.timedelta(seconds=1)
    broker.run_jobs()
    assert broker.get_asset(result.asset.id).state is AssetState.AVAILABLE
    broker.close()
