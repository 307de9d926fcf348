"""S3 POST policies: identity with botocore, real form POSTs to moto, the broker flow.

moto stores whatever a form POST sends: it checks no signature, no
expiration and no condition (``test_moto_enforces_no_post_policy`` pins
that). The proof that S3 accepts and enforces ours is therefore:

* the policy and its signature are byte-for-byte what botocore's
  ``generate_presigned_post`` makes for the same clock, credentials, key,
  fields and conditions (``Content-Type`` exact, ``content-length-range``);
* the POST checks of the contract kit run against moto behind a
  :class:`PostPolicyFront`, which verifies the signature with botocore's own
  ``S3SigV4PostAuth`` and judges the policy as S3 does (expiration, every
  condition, no uncovered field): a body outside the size range, another
  type, another key or an expired policy is refused and stores nothing;
* the real form POST (to moto, directly) stores the object with the bound
  type, and the broker completes and promotes it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4PostAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from rindle_core import (
    AssetState,
    Broker,
    Capability,
    Database,
    InvalidArgument,
    Profile,
    SessionState,
)
from rindle_core.plugins import make_plugin_manager
from rindle_core.testing import PostPolicyContract, PostPolicyFront, post_form
from rindle_s3 import S3Storage
from s3_test_keys import ACCESS_KEY, SECRET_KEY

FIXED = dt.datetime(2024, 2, 29, 23, 59, 58, tzinfo=dt.UTC)
ACCESS = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=="
KEYS = ["plain.pdf", "with space/and+plus=eq?#.bin", "unicode/ü é/日本語.png", "a" * 900]


@pytest.fixture
def frozen_clocks() -> Iterator[None]:
    """botocore's clock (both places ``generate_presigned_post`` reads it) and ours."""
    naive = FIXED.replace(tzinfo=None)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=naive),
        mock.patch("botocore.signers.get_current_datetime", return_value=naive),
        mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED),
    ):
        yield


def boto_post(
    bucket: str,
    key: str,
    *,
    region: str,
    style: str,
    endpoint_url: str | None,
    token: str | None,
    content_type: str,
    size_range: tuple[int, int],
    expires_in: int,
) -> Any:
    session = boto3.Session(
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        region_name=region,
    )
    client = session.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )
    return client.generate_presigned_post(
        bucket,
        key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", *size_range]],
        ExpiresIn=expires_in,
    )


def policy_of(fields: Mapping[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return document


# -- identity with botocore --------------------------------------------------------


@pytest.mark.usefixtures("frozen_clocks")
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(
    ("region", "style", "endpoint_url", "token"),
    [
        ("us-east-1", "path", "http://127.0.0.1:9000", None),
        ("eu-west-1", "virtual", None, TOKEN),
        ("us-east-1", "auto", None, None),
        ("ap-southeast-2", "path", "https://s3.example.com:8443/prefix", TOKEN),
    ],
)
def test_the_form_is_botocores(
    key: str, region: str, style: str, endpoint_url: str | None, token: str | None
) -> None:
    storage = S3Storage(
        "my-bucket",
        region=region,
        endpoint_url=endpoint_url,
        addressing_style=style,  # type: ignore[arg-type]
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
    )
    got = storage.presign_post(
        key, content_type="image/png", min_size=3, max_size=5000, expires_in=900
    )
    expected = boto_post(
        "my-bucket",
        key,
        region=region,
        style=style,
        endpoint_url=endpoint_url,
        token=token,
        content_type="image/png",
        size_range=(3, 5000),
        expires_in=900,
    )
    assert list(got.fields.items()) == list(expected["fields"].items())
    assert got.url == expected["url"]
    assert got.expires_at == FIXED + dt.timedelta(seconds=900)
    assert got.create_only is False


@pytest.mark.usefixtures("frozen_clocks")
def test_the_policy_binds_bucket_key_type_size_and_expiry() -> None:
    storage = S3Storage(
        "bkt", region="eu-west-1", aws_access_key_id=ACCESS, aws_secret_access_key=SECRET
    )
    post = storage.presign_post(
        "k/a.png", content_type="image/png", min_size=7, max_size=7, expires_in=60
    )
    policy = policy_of(post.fields)
    assert policy["expiration"] == "2024-03-01T00:00:58Z"
    assert policy["conditions"][:4] == [
        {"Content-Type": "image/png"},
        ["content-length-range", 7, 7],
        {"bucket": "bkt"},
        {"key": "k/a.png"},
    ]
    assert {"x-amz-credential": f"{ACCESS}/20240229/eu-west-1/s3/aws4_request"} in policy[
        "conditions"
    ]
    assert SECRET not in repr(post)
    assert post.fields["x-amz-signature"] not in repr(post)


def test_post_arguments_are_checked(storage: S3Storage) -> None:
    assert storage.max_post_size == 5 * 1024**3
    for call in (
        lambda: storage.presign_post(
            "k", content_type="a/b", min_size=0, max_size=5 * 1024**3 + 1, expires_in=60
        ),
        lambda: storage.presign_post(
            "up/${filename}", content_type="a/b", min_size=0, max_size=1, expires_in=60
        ),
        lambda: storage.presign_post(
            "k", content_type="a/b", min_size=0, max_size=1, expires_in=7 * 24 * 3600 + 1
        ),
    ):
        with pytest.raises(InvalidArgument):
            call()
    assert Capability.PRESIGNED_POST in storage.capabilities


# -- real form POSTs -----------------------------------------------------------------


def test_a_form_post_to_moto_stores_the_object(storage: S3Storage, admin_client: Any) -> None:
    post = storage.presign_post(
        "posted/a.pdf", content_type="application/pdf", min_size=1, max_size=100, expires_in=60
    )
    with httpx.Client() as client:
        response = post_form(client, post, b"%PDF-1.7 hello")
    assert response.status_code == 204
    head = admin_client.head_object(Bucket=storage.bucket, Key="posted/a.pdf")
    assert (head["ContentLength"], head["ContentType"]) == (14, "application/pdf")


def test_moto_enforces_no_post_policy(storage: S3Storage, admin_client: Any) -> None:
    """Why moto alone cannot show a refusal: it stores a body outside the range,
    of another type, under a broken signature. (If this fails, moto learnt to
    enforce policies: run the POST checks against it directly.)"""
    post = storage.presign_post(
        "lax/a.pdf", content_type="application/pdf", min_size=1, max_size=4, expires_in=60
    )
    forged = {**post.fields, "x-amz-signature": "0" * 64}
    with httpx.Client() as client:
        response = client.post(
            post.url, data=forged, files={"file": ("f", b"far too long", "text/html")}
        )
    assert response.status_code == 204
    head = admin_client.head_object(Bucket=storage.bucket, Key="lax/a.pdf")
    assert head["ContentLength"] == 12


def _verify_sigv4(policy: str, fields: Mapping[str, str]) -> str | None:
    """S3's signature check of a POST policy, with botocore's own signer."""
    credential = fields.get("x-amz-credential", "").split("/")
    date = fields.get("x-amz-date", "")
    if len(credential) != 5 or credential[0] != ACCESS_KEY:
        return "InvalidAccessKeyId"
    if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256" or credential[1] != date[:8]:
        return "AuthorizationQueryParametersError"
    request = AWSRequest(method="POST", url="http://127.0.0.1/")
    request.context["timestamp"] = date
    signer = S3SigV4PostAuth(Credentials(ACCESS_KEY, SECRET_KEY), credential[3], credential[2])
    expected = signer.signature(policy, request)
    if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
        return "SignatureDoesNotMatch"
    return None


@pytest.fixture(scope="module")
def policy_front(s3_endpoint: str) -> Iterator[PostPolicyFront]:
    front = PostPolicyFront(s3_endpoint, verify=_verify_sigv4)
    yield front
    front.close()


class TestS3PostPolicies(PostPolicyContract):
    """The kit's POST checks on moto behind a front that judges policies as S3 does."""

    enforces_post_policy = True
    post_is_create_only = False  # S3's POST replaces an existing object

    @pytest.fixture
    def adapter(
        self, make_storage: Callable[..., S3Storage], bucket: str, policy_front: PostPolicyFront
    ) -> S3Storage:
        return make_storage(bucket, endpoint_url=policy_front.url)


def test_the_front_refuses_a_tampered_signature_and_an_extra_field(
    make_storage: Callable[..., S3Storage], bucket: str, policy_front: PostPolicyFront
) -> None:
    storage = make_storage(bucket, endpoint_url=policy_front.url)
    post = storage.presign_post(
        "t/a.pdf", content_type="application/pdf", min_size=0, max_size=10, expires_in=60
    )
    signature = post.fields["x-amz-signature"]
    tampered = {**post.fields, "x-amz-signature": signature[::-1]}
    extra = {**post.fields, "acl": "public-read"}
    with httpx.Client() as client:
        for fields in (tampered, extra):
            response = client.post(post.url, data=fields, files={"file": ("f", b"x", "a/b")})
            assert response.status_code == 403
        assert post_form(client, post, b"%PDF").status_code == 204
    assert policy_front.refused[-2:] == ["SignatureDoesNotMatch", "AccessDenied"]


# -- through the broker ------------------------------------------------------------------


def test_the_broker_flow_on_moto(storage: S3Storage, tmp_path: Path) -> None:
    """POST, verify, and promotion once the policy expired (S3's POST can replace)."""
    database = Database("sqlite:///" + str(tmp_path / "rindle.db"))
    database.create_all()
    now = [dt.datetime.now(dt.UTC)]
    broker = Broker(
        database,
        profiles=[Profile(name="docs", storage="main", max_bytes=1000)],
        storages={"main": storage},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
        job_mode="inline",
        clock=lambda: now[0],
    )
    session = broker.initiate_post_session(
        "docs", filename="a.pdf", content_type="application/pdf", owner="u1"
    )
    signed = broker.sign_post(session.id, expires_in=120)
    assert policy_of(signed.post.fields)["conditions"][1] == ["content-length-range", 0, 1000]
    with httpx.Client() as client:
        assert post_form(client, signed.post, b"%PDF-1.4\n" + bytes(200)).status_code == 204
    result = broker.verify_completion(session.id)
    assert result.session.state is SessionState.COMPLETED
    assert result.asset.byte_size == 209
    assert broker.get_asset(result.asset.id).state is AssetState.VALIDATING
    assert signed.session.urls_expire_at is not None
    now[0] = signed.session.urls_expire_at + broker.maintenance.cleanup_grace
    now[0] += dt.timedelta(seconds=1)
    broker.run_jobs()
    assert broker.get_asset(result.asset.id).state is AssetState.AVAILABLE
    broker.close()
