"""Signing with a GCS HMAC key (``GOOG4-HMAC-SHA256``).

google-cloud-storage cannot sign with an HMAC key (its V4 signer always
writes ``GOOG4-RSA-SHA256`` and needs RSA credentials), so identity is
shown in two halves:

* the canonical request is the SDK's: for the same inputs, rindle's HMAC
  canonical request is its RSA one (byte-identical to the SDK's, see
  ``test_gcs_signing.py`` and the vectors) with only the algorithm and the
  credential's authorizer changed, which is all Google's documentation
  changes between the two;
* the signature is that of ``gcs_v4_reference``, an independent signer
  written from Google's documentation (which passes Google's vectors,
  ``test_gcs_v4_vectors.py``), over random inputs.

Then the whole storage contract and the POST policy kit run with an HMAC
key, behind fronts that verify HMAC signatures with the reference signer
as GCS would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import httpx
import pytest
import test_gcs_contract as contract
from gcs_v4_reference import canonical_request, hmac_signature, string_to_sign
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.oauth2 import service_account
from hypothesis import given, settings
from hypothesis import strategies as st

from rindle_core import Capability, ConfigurationError
from rindle_core.client import UploadClient
from rindle_core.testing import CheckingFront, PostPolicyContract, PostPolicyFront
from rindle_gcs import GCSSettings, GCSStorage, HMACSigner, KeySigner, V4Signer, create_storage
from rindle_gcs._post_policy import sign_post_policy

if TYPE_CHECKING:
    from conftest import Emulator

ACCESS_ID = "GOOG1EREXAMPLE7BSQ4Y3ZMFV4CL3WQAY3TXGJ6XWPL6UIBGQJX7LVPXVYQA"
SECRET = "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ"
NOW = dt.datetime(2026, 3, 14, 15, 9, 26, tzinfo=dt.UTC)


# -- the canonical request is the SDK's; the signature the reference's ---------


@pytest.fixture(scope="module")
def sa_credentials(service_account_key: Path) -> Any:
    return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(service_account_key)
    )


@pytest.fixture(scope="module")
def rsa_signer(sa_credentials: Any) -> V4Signer:
    return V4Signer(KeySigner(sa_credentials), endpoint="https://storage.googleapis.com")


def _swap(text: str, email: str) -> str:
    """*text* as an HMAC signature has it: another algorithm and authorizer."""
    return text.replace("GOOG4-RSA-SHA256", "GOOG4-HMAC-SHA256").replace(
        quote(email, safe=""), ACCESS_ID
    )


_HEADER_NAMES = st.sampled_from(
    ["Content-Type", "Content-Length", "x-goog-if-generation-match", "X-Goog-Meta-A", "Origin"]
)
_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20)
_KEYS = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "HEAD", "DELETE"]),
    key=_KEYS,
    headers=st.dictionaries(_HEADER_NAMES, _VALUES, max_size=4),
    query=st.dictionaries(st.sampled_from(["generation", "response-content-type"]), _VALUES),
    expires_in=st.integers(1, 7 * 24 * 3600),
    when=st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2040, 1, 1), timezones=st.just(dt.UTC)),
    endpoint=st.sampled_from(
        ["https://storage.googleapis.com", "http://127.0.0.1:9023", "http://h:4443/storage"]
    ),
)
def test_hmac_urls_are_the_sdk_request_signed_as_documented(
    sa_credentials: Any,
    method: str,
    key: str,
    headers: dict[str, str],
    query: dict[str, str],
    expires_in: int,
    when: dt.datetime,
    endpoint: str,
) -> None:
    signer = V4Signer(HMACSigner(ACCESS_ID, SECRET), endpoint=endpoint)
    rsa = V4Signer(KeySigner(sa_credentials), endpoint=endpoint)
    inputs: dict[str, Any] = {
        "expires_in": expires_in,
        "headers": headers,
        "query": query,
        "now": when,
    }
    url = signer.sign_url(method, "bkt", key, **inputs)
    ours = signer.canonical(method, "bkt", key, **inputs)
    theirs = rsa.canonical(method, "bkt", key, **inputs)

    assert ours.canonical_request == _swap(theirs.canonical_request, rsa.email)
    assert ours.url == _swap(theirs.url, rsa.email)

    # The independent reference, from the URL alone.
    parts = urlsplit(url)
    timestamp = when.strftime("%Y%m%dT%H%M%SZ")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = params.pop("X-Goog-Signature")
    for name in ("Algorithm", "Credential", "Date", "Expires", "SignedHeaders"):
        params.pop(f"X-Goog-{name}")
    canonical, _ = canonical_request(
        method=method,
        path=parts.path.removeprefix("/storage"),
        host=parts.netloc,
        algorithm="GOOG4-HMAC-SHA256",
        authorizer=ACCESS_ID,
        timestamp=timestamp,
        expires=expires_in,
        headers=headers,
        query=params,
    )
    assert canonical == ours.canonical_request
    expected = hmac_signature(
        SECRET, timestamp, string_to_sign("GOOG4-HMAC-SHA256", timestamp, canonical)
    )
    assert signature == expected


def test_the_signing_key_follows_the_date() -> None:
    """The cached derived key is re-derived for a signature dated another day."""
    signer = V4Signer(HMACSigner(ACCESS_ID, SECRET), endpoint="https://storage.googleapis.com")
    for when in (NOW, NOW + dt.timedelta(days=1), NOW, NOW + dt.timedelta(seconds=1)):
        request = signer.canonical("GET", "b", "k", expires_in=60, now=when)
        url = signer.sign_url("GET", "b", "k", expires_in=60, now=when)
        timestamp = when.strftime("%Y%m%dT%H%M%SZ")
        assert parse_qs(urlsplit(url).query)["X-Goog-Signature"] == [
            hmac_signature(SECRET, timestamp, request.string_to_sign)
        ]


def test_a_signed_payload_hash_is_the_canonical_payload() -> None:
    digest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    signer = V4Signer(HMACSigner(ACCESS_ID, SECRET), endpoint="https://storage.googleapis.com")
    request = signer.canonical(
        "PUT", "b", "k", expires_in=60, headers={"X-Goog-Content-SHA256": digest}, now=NOW
    )
    assert request.canonical_request.endswith(f"\nhost;x-goog-content-sha256\n{digest}")
    plain = signer.canonical("PUT", "b", "k", expires_in=60, now=NOW)
    assert plain.canonical_request.endswith("\nhost\nUNSIGNED-PAYLOAD")


def test_the_post_policy_is_signed_with_the_hmac_key(rsa_signer: V4Signer) -> None:
    """The same document as with RSA but for algorithm and authorizer; HMAC-signed."""
    signer = V4Signer(HMACSigner(ACCESS_ID, SECRET), endpoint="https://storage.googleapis.com")
    inputs: dict[str, Any] = {
        "bucket": "b",
        "key": "k/é.pdf",
        "content_type": "application/pdf",
        "min_size": 1,
        "max_size": 9,
        "expires_in": 600,
        "now": NOW,
    }
    post = sign_post_policy(signer, **inputs)
    rsa_post = sign_post_policy(rsa_signer, **inputs)

    import base64

    document = base64.b64decode(post.fields["policy"]).decode()
    rsa_document = base64.b64decode(rsa_post.fields["policy"]).decode()
    assert document == rsa_document.replace("GOOG4-RSA-SHA256", "GOOG4-HMAC-SHA256").replace(
        rsa_signer.email, ACCESS_ID
    )
    assert post.fields["x-goog-algorithm"] == "GOOG4-HMAC-SHA256"
    assert post.fields["x-goog-credential"] == f"{ACCESS_ID}/20260314/auto/storage/goog4_request"
    assert post.fields["x-goog-signature"] == hmac_signature(
        SECRET, "20260314T150926Z", post.fields["policy"]
    )


def test_the_secret_never_shows() -> None:
    signer = HMACSigner(ACCESS_ID, SECRET)
    settings = GCSSettings.from_options(
        {"bucket": "ok-bucket", "hmac_access_id": ACCESS_ID, "hmac_secret": SECRET}
    )
    v4 = V4Signer(signer, endpoint="https://storage.googleapis.com")
    for text in (repr(signer), repr(v4), repr(settings), str(settings)):
        assert SECRET not in text
    assert ACCESS_ID in repr(signer)


@pytest.mark.parametrize(("access_id", "secret"), [("", SECRET), (ACCESS_ID, "")])
def test_an_hmac_key_needs_both_halves(access_id: str, secret: str) -> None:
    with pytest.raises(ValueError, match="access id and a secret"):
        HMACSigner(access_id, secret)


# -- configuration and capabilities --------------------------------------------


@pytest.fixture
def _no_ambient_google_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.mark.usefixtures("_no_ambient_google_config")
@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"hmac_access_id": ACCESS_ID}, "'hmac_secret'"),
        ({"hmac_secret": SECRET}, "'hmac_access_id'"),
        ({"hmac_access_id": "GOOG/1", "hmac_secret": SECRET}, "'hmac_access_id'"),
        ({"hmac_access_id": 7, "hmac_secret": SECRET}, "'hmac_access_id'"),
        ({"hmac_access_id": ACCESS_ID, "hmac_secret": SECRET + " \n"}, "'hmac_secret'"),
        ({"hmac_access_id": ACCESS_ID, "hmac_secret": "sécret"}, "'hmac_secret'"),
        ({"hmac_access_id": ACCESS_ID, "hmac_secret": 12345}, "'hmac_secret'"),
    ],
)
def test_bad_hmac_options_name_the_option_never_the_secret(
    options: dict[str, Any], name: str
) -> None:
    with pytest.raises(ConfigurationError, match=name) as info:
        create_storage(bucket="ok-bucket", anonymous=True, **options)
    assert SECRET not in str(info.value)
    assert "12345" not in str(info.value)
    assert "sécret" not in str(info.value)


@pytest.mark.usefixtures("_no_ambient_google_config")
def test_an_hmac_key_alone_cannot_call_the_json_api() -> None:
    """No OAuth credentials: refused at start-up, saying what the key can and cannot do."""
    with pytest.raises(ConfigurationError, match="signs URLs and POST policies only") as info:
        create_storage(bucket="ok-bucket", hmac_access_id=ACCESS_ID, hmac_secret=SECRET)
    assert "resumable sessions" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.usefixtures("_no_ambient_google_config")
def test_an_hmac_key_signs_where_the_credentials_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    """User credentials cannot sign (ADR 0025); with an HMAC key every capability is offered."""
    import google.auth

    class UserCredentials(AnonymousCredentials):
        """Like gcloud user credentials: no key, no service account."""

    user = UserCredentials()  # type: ignore[no-untyped-call]
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (user, None))
    without = create_storage(bucket="ok-bucket", anonymous=False)
    assert Capability.PRESIGNED_PUT in without.withheld

    storage = create_storage(
        bucket="ok-bucket", anonymous=False, hmac_access_id=ACCESS_ID, hmac_secret=SECRET
    )
    assert storage.withheld == frozenset()
    assert storage.capabilities == contract_capabilities()
    put = storage.presign_put("k", content_type="text/plain", content_length=1, expires_in=60)
    assert "X-Goog-Algorithm=GOOG4-HMAC-SHA256" in put.url
    assert f"X-Goog-Credential={ACCESS_ID}%2F" in put.url


def contract_capabilities() -> frozenset[Capability]:
    return frozenset(
        {
            Capability.RESUMABLE_UPLOAD,
            Capability.RESUMABLE_STATUS,
            Capability.PRESIGNED_PUT,
            Capability.PRESIGNED_POST,
            Capability.HEAD,
            Capability.RANGE_READ,
            Capability.DELETE,
            Capability.SIGNED_GET,
        }
    )


@pytest.mark.usefixtures("_no_ambient_google_config")
def test_an_hmac_key_takes_precedence_over_the_key_file(service_account_key: Path) -> None:
    storage = create_storage(
        bucket="ok-bucket",
        credentials_file=str(service_account_key),
        hmac_access_id=ACCESS_ID,
        hmac_secret=SECRET,
    )
    get = storage.presign_get("k", expires_in=60)
    assert "GOOG4-HMAC-SHA256" in get.url
    assert "iam.gserviceaccount.com" not in get.url


# -- on the emulators, behind fronts that check HMAC signatures -------------------


def hmac_refusal(
    method: str, host: str, target: str, headers: Mapping[str, str]
) -> tuple[int, str] | None:
    """Why GCS would refuse this HMAC-signed request (recomputed by the reference)."""
    path, _, raw_query = target.partition("?")
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    try:
        signature = params.pop("X-Goog-Signature")
        timestamp = params.pop("X-Goog-Date")
        expires = int(params.pop("X-Goog-Expires"))
        credential = params.pop("X-Goog-Credential")
        algorithm = params.pop("X-Goog-Algorithm")
        signed = params.pop("X-Goog-SignedHeaders").split(";")
        signed_at = dt.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except (KeyError, ValueError):
        return 400, "MissingSecurityHeader"
    if algorithm != "GOOG4-HMAC-SHA256":
        return 400, "InvalidArgument"
    if credential != f"{ACCESS_ID}/{timestamp[:8]}/auto/storage/goog4_request":
        return 403, "InvalidAccessKeyId"
    if dt.datetime.now(dt.UTC) > signed_at + dt.timedelta(seconds=expires):
        return 400, "ExpiredToken"
    received = {name.lower(): value for name, value in headers.items()}
    if any(name not in received for name in signed):
        return 403, "SignatureDoesNotMatch"
    canonical, _ = canonical_request(
        method=method,
        path=path,
        host=received["host"],
        algorithm=algorithm,
        authorizer=ACCESS_ID,
        timestamp=timestamp,
        expires=expires,
        headers={name: received[name] for name in signed if name != "host"},
        query=params,
    )
    expected = hmac_signature(SECRET, timestamp, string_to_sign(algorithm, timestamp, canonical))
    return None if expected == signature else (403, "SignatureDoesNotMatch")


@pytest.fixture(scope="module")
def hmac_front(gcs_emulator: Emulator) -> Iterator[CheckingFront]:
    front = CheckingFront(gcs_emulator.url, marker="X-Goog-Signature=", refuse=hmac_refusal)
    yield front
    front.close()


@pytest.fixture
def hmac_storage(hmac_front: CheckingFront, gcs_emulator: Emulator) -> GCSStorage:
    """A ``gcs`` storage signing with the HMAC key, its URLs checked by the front."""
    return create_storage(
        bucket=gcs_emulator.create_bucket(),
        endpoint_url=hmac_front.url,
        hmac_access_id=ACCESS_ID,
        hmac_secret=SECRET,
        retry_timeout=5,
        read_timeout=30,
    )


class TestGCSContractWithHMAC(contract.TestGCSContract):
    """The whole storage contract, signing with an HMAC key (signatures checked)."""

    @pytest.fixture
    def adapter(self, hmac_storage: GCSStorage) -> GCSStorage:
        return hmac_storage

    @pytest.fixture
    def adapter_secrets(self) -> list[str]:
        return [SECRET]


def test_a_tampered_hmac_url_is_refused(
    hmac_storage: GCSStorage, hmac_front: CheckingFront
) -> None:
    request = hmac_storage.presign_put(
        "h/a.txt", content_type="text/plain", content_length=2, expires_in=60
    )
    with UploadClient() as client:
        client.put_bytes(request, b"ok")
    assert hmac_storage.head("h/a.txt").size == 2

    other = hmac_storage.presign_put(
        "h/b.txt", content_type="text/plain", content_length=2, expires_in=60
    )
    response = httpx.put(
        other.url, content=b"no", headers={**other.headers, "Content-Type": "text/html"}
    )
    assert response.status_code == 403
    assert hmac_front.refused[-1] == "SignatureDoesNotMatch"


@pytest.fixture(scope="module")
def hmac_policy_front(fake_gcs: Emulator) -> Iterator[PostPolicyFront]:
    def verify(policy: str, fields: Mapping[str, str]) -> str | None:
        """GCS's check of an HMAC-signed V4 POST policy."""
        timestamp = fields.get("x-goog-date", "")
        if fields.get("x-goog-algorithm") != "GOOG4-HMAC-SHA256":
            return "InvalidArgument"
        if fields.get("x-goog-credential") != (
            f"{ACCESS_ID}/{timestamp[:8]}/auto/storage/goog4_request"
        ):
            return "InvalidAccessKeyId"
        if fields.get("x-goog-signature") != hmac_signature(SECRET, timestamp, policy):
            return "SignatureDoesNotMatch"
        return None

    def at_bucket_root(path: str) -> str:
        """fake-gcs-server routes a form POST at ``/BUCKET`` only; GCS takes ``/BUCKET/``."""
        return path.rstrip("/") if path.count("/") == 2 and path.endswith("/") else path

    front = PostPolicyFront(fake_gcs.url, verify=verify, rewrite=at_bucket_root)
    yield front
    front.close()


class TestGCSPostPoliciesWithHMAC(PostPolicyContract):
    """The kit's POST checks with HMAC-signed policies, judged as GCS does."""

    enforces_post_policy = True
    post_is_create_only = False  # GCS's POST replaces an existing object

    @pytest.fixture
    def adapter(self, fake_gcs: Emulator, hmac_policy_front: PostPolicyFront) -> GCSStorage:
        return create_storage(
            bucket=fake_gcs.create_bucket(),
            endpoint_url=hmac_policy_front.url,
            hmac_access_id=ACCESS_ID,
            hmac_secret=SECRET,
            retry_timeout=5,
            read_timeout=30,
        )


# -- an endpoint with a path ------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["http://h:4443/storage", "https://proxy.example/gcs/v1/"])
def test_an_endpoint_path_stays_in_the_url_as_the_sdk_signs_it(
    sa_credentials: Any, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prefix is in the URL; the signed resource is ``/BUCKET/KEY`` (the SDK's)."""
    from google.cloud.storage import _signing as sdk_signing

    monkeypatch.setattr(sdk_signing, "_NOW", lambda tz=None: NOW.astimezone(tz))
    settings = GCSSettings.from_options({"bucket": "ok-bucket", "endpoint_url": endpoint})
    base = endpoint.rstrip("/")
    assert settings.endpoint == base
    signer = V4Signer(KeySigner(sa_credentials), endpoint=settings.endpoint)

    url = signer.sign_url(
        "PUT", "bkt", "a b/c.txt", expires_in=60, headers={"Content-Type": "text/plain"}, now=NOW
    )
    request = signer.canonical(
        "PUT", "bkt", "a b/c.txt", expires_in=60, headers={"Content-Type": "text/plain"}, now=NOW
    )

    assert url.startswith(f"{base}/bkt/a%20b/c.txt?")
    assert request.canonical_request.split("\n")[1] == "/bkt/a%20b/c.txt"
    assert f"\nhost:{urlsplit(base).netloc}\n" in request.canonical_request
    client = gcs.Client(project="p", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    assert url == client.bucket("bkt").blob("a b/c.txt").generate_signed_url(
        version="v4",
        expiration=dt.timedelta(seconds=60),
        method="PUT",
        content_type="text/plain",
        credentials=sa_credentials,
        api_access_endpoint=base,
    )

    hmac = V4Signer(HMACSigner(ACCESS_ID, SECRET), endpoint=settings.endpoint)
    post = sign_post_policy(
        hmac,
        bucket="bkt",
        key="k",
        content_type="text/plain",
        min_size=1,
        max_size=2,
        expires_in=60,
        now=NOW,
    )
    assert post.url == f"{base}/bkt/"
