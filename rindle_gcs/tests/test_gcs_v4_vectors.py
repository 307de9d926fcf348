"""Google's V4 signing conformance vectors (``vectors/gcs-v4-signatures.json``).

The vectors' private key is not published with them (see
``vectors/README-gcs-vectors.md``), so, as that notice says, each case
checks what does not depend on the key: the canonical request, the string
to sign, and the URL (or the POST form) apart from the signature. RSA-SHA256
(PKCS#1 v1.5) is deterministic: with Google's key, rindle would produce the
expected signature. Each case is then signed with a substituted key and
compared, signature included, with google-cloud-storage's output for the
same inputs, and the signature verified against the *expected* string to
sign.

Every case is listed: the ones rindle does not support are skipped with the
reason (``UNSUPPORTED``), and the four whose endpoint carries a port follow
the Python SDK's documented difference (``SDK_KEEPS_THE_PORT``). The same
vectors also check the independent reference signer the HMAC tests use
(``gcs_v4_reference``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from gcs_v4_reference import canonical_request, object_path, string_to_sign
from google.auth.credentials import AnonymousCredentials, Signing
from google.cloud import storage as gcs
from google.cloud.storage import _signing as sdk_signing
from google.cloud.storage import client as sdk_client
from google.cloud.storage.blob import _quote
from google.oauth2 import service_account

from rindle_gcs import GCSSettings, KeySigner, V4Signer
from rindle_gcs._post_policy import build_post_policy

VECTORS: Final = json.loads(
    (Path(__file__).parent / "vectors" / "gcs-v4-signatures.json").read_text("utf-8")
)
#: The service account the vectors were signed as.
VECTOR_EMAIL: Final = "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com"

_PATH_STYLE_ONLY = "rindle addresses objects path-style (ENDPOINT/BUCKET/KEY) only"
#: Cases rindle does not support, and why.
UNSUPPORTED: Final = {
    "Virtual Hosted Style": f"virtual-hosted style (BUCKET.HOST): {_PATH_STYLE_ONLY}",
    "HTTP Bucket Bound Hostname Support": f"a bucket-bound hostname (a CNAME): {_PATH_STYLE_ONLY}",
    "HTTPS Bucket Bound Hostname Support": f"a bucket-bound hostname (a CNAME): {_PATH_STYLE_ONLY}",
    "Universe domain with virtual hosted style": f"virtual-hosted style: {_PATH_STYLE_ONLY}",
    "POST Policy Simple Virtual Hosted Style": f"virtual-hosted style: {_PATH_STYLE_ONLY}",
    "POST Policy Simple Bucket Bound Hostname": f"a bucket-bound hostname: {_PATH_STYLE_ONLY}",
    "POST Policy Simple Bucket Bound Hostname HTTP": f"a bucket-bound hostname: {_PATH_STYLE_ONLY}",
}
#: Endpoints with a port: the Python SDK (and rindle, identical to it) signs
#: ``host:PORT`` where the vectors sign the bare host (the notice beside them).
SDK_KEEPS_THE_PORT: Final = frozenset(
    {
        "Simple GET with non-default hostname",
        "Simple GET with endpoint on client",
        "Endpoint on client with scheme",
        "Endpoint on client takes precedence over emulator",
    }
)


#: The vector whose expected canonical request and string to sign disagree.
SELF_CONTRADICTING: Final = "Universe domain with virtual hosted style"


def _cases(kind: str) -> list[Any]:
    params = []
    for case in VECTORS[kind]:
        name = case["description"]
        marks = [pytest.mark.skip(reason=UNSUPPORTED[name])] if name in UNSUPPORTED else []
        params.append(pytest.param(case, id=name, marks=marks))
    return params


def test_every_vector_is_run_or_listed_as_unsupported() -> None:
    names = {case["description"] for kind in VECTORS.values() for case in kind}
    assert len(VECTORS["signingV4Tests"]) == 29
    assert len(VECTORS["postPolicyV4Tests"]) == 11
    assert set(UNSUPPORTED) <= names
    assert names >= SDK_KEEPS_THE_PORT
    assert not SDK_KEEPS_THE_PORT & set(UNSUPPORTED)


class VectorAccount(Signing):
    """The vectors' account name, signing with a substituted (test) key."""

    def __init__(self, key: Any, public_key: rsa.RSAPublicKey) -> None:
        self._key = key
        self.public_key = public_key

    @property
    def signer_email(self) -> str:
        return VECTOR_EMAIL

    @property
    def signer(self) -> Any:
        return self._key.signer

    def sign_bytes(self, message: bytes) -> bytes:
        return bytes(self._key.sign_bytes(message))


@pytest.fixture(scope="module")
def account(service_account_key: Path) -> VectorAccount:
    key = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(service_account_key)
    )
    pem = json.loads(service_account_key.read_text())["private_key"].encode()
    private = load_pem_private_key(pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return VectorAccount(key, private.public_key())


def _timestamp(case: dict[str, Any]) -> dt.datetime:
    return dt.datetime.strptime(case["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def endpoint_of(case: dict[str, Any]) -> str:
    """rindle's endpoint for the case's host inputs, through rindle's own configuration.

    The client endpoint is ``endpoint_url``, the emulator host is
    ``STORAGE_EMULATOR_HOST`` (rindle gives ``endpoint_url`` precedence, as
    the vectors do); the SDK's ``hostname`` override and a universe domain
    (``storage.DOMAIN``) are written as ``endpoint_url``.
    """
    scheme = case.get("scheme", "https")
    options: dict[str, object] = {"bucket": "test-bucket"}
    environ = {}
    if "hostname" in case:
        options["endpoint_url"] = f"{scheme}://{case['hostname']}"
    elif "clientEndpoint" in case:
        endpoint = case["clientEndpoint"]
        options["endpoint_url"] = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
    elif "universeDomain" in case:
        options["endpoint_url"] = f"https://storage.{case['universeDomain']}"
    if "emulatorHostname" in case:
        environ["STORAGE_EMULATOR_HOST"] = case["emulatorHostname"]
    return GCSSettings.from_options(options, environ=environ).endpoint


def _without_signature(url: str) -> str:
    base, _, signature = url.partition("&X-Goog-Signature=")
    assert signature and "&" not in signature
    return base


def _vector_host(case: dict[str, Any]) -> str:
    (line,) = [x for x in case["expectedCanonicalRequest"].split("\n") if x.startswith("host:")]
    return str(line).removeprefix("host:")


# -- signed URLs --------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("signingV4Tests"))
def test_signed_url_vector(case: dict[str, Any], account: VectorAccount) -> None:
    endpoint = endpoint_of(case)
    signer = V4Signer(KeySigner(account), endpoint=endpoint)
    inputs = {
        "expires_in": case["expiration"],
        "headers": case.get("headers"),
        "query": case.get("queryParameters"),
        "now": _timestamp(case),
    }
    got = signer.canonical(case["method"], case["bucket"], case.get("object"), **inputs)

    expected_request = case["expectedCanonicalRequest"]
    expected_string = case["expectedStringToSign"]
    if case["description"] in SDK_KEEPS_THE_PORT:
        host = urlsplit(endpoint).netloc
        vector_host = _vector_host(case)
        assert host != vector_host
        assert host.rpartition(":")[0] == vector_host  # the one difference: the port
        expected_request = expected_request.replace(f"\nhost:{vector_host}\n", f"\nhost:{host}\n")
        expected_string = string_to_sign(
            "GOOG4-RSA-SHA256", expected_string.split("\n")[1], expected_request
        )
    assert got.canonical_request == expected_request
    assert got.string_to_sign == expected_string
    assert got.url == _without_signature(case["expectedUrl"])

    url = signer.sign_url(case["method"], case["bucket"], case.get("object"), **inputs)
    assert _without_signature(url) == got.url
    # The substituted key's signature verifies over the expected string to sign...
    signature = bytes.fromhex(url.rpartition("&X-Goog-Signature=")[2])
    account.public_key.verify(
        signature, expected_string.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    # ...and the whole URL is google-cloud-storage's, byte for byte.
    assert url == _sdk_url(case, account, endpoint)


def _sdk_url(case: dict[str, Any], account: VectorAccount, endpoint: str) -> str:
    name = case.get("object")
    resource = f"/{case['bucket']}" + ("" if name is None else f"/{_quote(name, safe=b'/~')}")
    return str(
        sdk_signing.generate_signed_url_v4(
            account,
            resource=resource,
            expiration=case["expiration"],
            api_access_endpoint=endpoint,
            method=case["method"],
            headers=dict(case.get("headers") or {}),
            query_parameters=dict(case.get("queryParameters") or {}),
            _request_timestamp=_timestamp(case).strftime("%Y%m%dT%H%M%SZ"),
        )
    )


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c["description"]) for c in VECTORS["signingV4Tests"]]
)
def test_the_reference_signer_passes_every_vector(case: dict[str, Any]) -> None:
    """The independent signer the HMAC tests trust passes all 29 vectors (any URL style).

    One vector contradicts itself: in "Universe domain with virtual hosted
    style" the expected canonical request signs ``/test-bucket/test-object``
    while its expected string to sign hashes a canonical request signing
    the URL's path ``/test-object``. The string to sign is what a signature
    covers, so the reference is held to it there.
    """
    expected = case["expectedUrl"]
    parts = urlsplit(expected)
    timestamp = _timestamp(case).strftime("%Y%m%dT%H%M%SZ")
    canonical, query = canonical_request(
        method=case["method"],
        path=parts.path,
        host=_vector_host(case),
        algorithm="GOOG4-RSA-SHA256",
        authorizer=VECTOR_EMAIL,
        timestamp=timestamp,
        expires=case["expiration"],
        headers=case.get("headers", {}),
        query=case.get("queryParameters", {}),
    )
    expected_request = case["expectedCanonicalRequest"]
    if case["description"] == SELF_CONTRADICTING:
        expected_request = expected_request.replace(
            "\n/test-bucket/test-object\n", "\n/test-object\n"
        )
    assert canonical == expected_request
    assert string_to_sign("GOOG4-RSA-SHA256", timestamp, canonical) == case["expectedStringToSign"]
    assert _without_signature(expected) == f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"
    if case.get("urlStyle") is None:
        assert parts.path == object_path(case["bucket"], case.get("object"))


# -- POST policies ------------------------------------------------------------


def _conditions(case: dict[str, Any]) -> list[object]:
    """The policy input's conditions, spelled as the policy document spells them."""
    given = case["policyInput"].get("conditions", {})
    spelled = {"startsWith": "starts-with", "contentLengthRange": "content-length-range"}
    assert set(given) <= set(spelled), given
    return [[spelled[name], *values] for name, values in given.items()]


@pytest.mark.parametrize("case", _cases("postPolicyV4Tests"))
def test_post_policy_vector(
    case: dict[str, Any], account: VectorAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = case["policyInput"]
    expected = case["policyOutput"]
    endpoint = f"{given['scheme']}://storage.googleapis.com"
    now = _timestamp(given)

    post = build_post_policy(
        V4Signer(KeySigner(account), endpoint=endpoint),
        bucket=given["bucket"],
        key=given["object"],
        fields=given.get("fields", {}),
        conditions=_conditions(case),
        expires_in=given["expiration"],
        now=now,
    )

    # The base64 document is what is signed (its decoded form in the vectors
    # cannot carry the \\u escapes the document holds).
    assert post.fields["policy"] == expected["fields"]["policy"]
    assert {k: v for k, v in post.fields.items() if k != "x-goog-signature"} == {
        k: v for k, v in expected["fields"].items() if k != "x-goog-signature"
    }
    assert post.url == expected["url"]
    assert post.expires_at == now + dt.timedelta(seconds=given["expiration"])

    monkeypatch.setattr(sdk_signing, "_NOW", lambda tz=None: now.astimezone(tz))
    monkeypatch.setattr(sdk_client, "_NOW", lambda tz=None: now.astimezone(tz))
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
    client = gcs.Client(
        project="p", credentials=anonymous, client_options={"api_endpoint": endpoint}
    )
    sdk = client.generate_signed_post_policy_v4(
        given["bucket"],
        given["object"],
        expiration=given["expiration"],
        conditions=_conditions(case),
        fields=dict(given.get("fields", {})),
        credentials=account,
    )
    assert list(post.fields.items()) == list(sdk["fields"].items())
    assert post.url == sdk["url"]
