"""The fast presigner produces exactly botocore's URLs.

botocore's clock is frozen the way its own tests do it (patching the
``get_current_datetime`` that ``botocore.auth`` calls); ours takes ``now``
explicitly (or the adapter's ``utcnow`` is patched).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.credentials import CredentialProvider, RefreshableCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from rindle_core.storage import PartChecksum
from rindle_s3 import S3Storage, SigV4Presigner, SnapshotCache, StaticCredentials, object_url

FIXED = dt.datetime(2024, 2, 29, 23, 59, 58, tzinfo=dt.UTC)
ACCESS = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=="

KEYS = [
    "plain.txt",
    "with space.pdf",
    "unicode/ü é/日本語.png",
    "plus+sign+and=equals",
    "tilde~and-dash_underscore.dot",
    "deep/nested/path/to/file",
    "/leading-slash",
    "double//slash/",
    "specials !$&'()*,;:@[]{}|^`\"<>\\",
    "percent%20literal%",
    "question?and#hash",
    "emoji-\U0001f600",
    "a" * 900,
]


@pytest.fixture
def frozen_botocore() -> Iterator[None]:
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)):
        yield


def boto_client(
    *,
    region: str = "us-east-1",
    endpoint_url: str | None = None,
    style: str = "auto",
    token: str | None = None,
) -> Any:
    session = boto3.Session(
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        region_name=region,
    )
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )


def adapter(
    bucket: str,
    *,
    region: str = "us-east-1",
    endpoint_url: str | None = None,
    style: str = "auto",
    token: str | None = None,
) -> S3Storage:
    return S3Storage(
        bucket,
        region=region,
        endpoint_url=endpoint_url,
        addressing_style=style,  # type: ignore[arg-type]
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
    )


# -- the presigner alone ------------------------------------------------------


@pytest.mark.usefixtures("frozen_botocore")
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("token", [None, TOKEN])
def test_put_with_content_type_and_length_matches_botocore(key: str, token: str | None) -> None:
    client = boto_client(endpoint_url="http://127.0.0.1:9000", style="path", token=token)
    expected = client.generate_presigned_url(
        "put_object",
        Params={"Bucket": "bkt", "Key": key, "ContentType": "image/png", "ContentLength": 1234},
        ExpiresIn=900,
    )
    signer = SigV4Presigner(StaticCredentials(ACCESS, SECRET, token), region="us-east-1")
    got = signer.presign(
        "PUT",
        object_url("http://127.0.0.1:9000/bkt/", key),
        headers={"Content-Type": "image/png", "Content-Length": "1234"},
        expires_in=900,
        now=FIXED,
    )
    assert got == expected


@pytest.mark.usefixtures("frozen_botocore")
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("length", [None, 0, 5 * 1024**3])
def test_create_only_put_matches_botocore(key: str, length: int | None) -> None:
    """``If-None-Match: *`` is signed exactly as botocore signs ``IfNoneMatch="*"``."""
    client = boto_client(region="eu-west-1", style="virtual", token=TOKEN)
    params: dict[str, Any] = {
        "Bucket": "my-bucket",
        "Key": key,
        "ContentType": "image/png",
        "IfNoneMatch": "*",
    }
    headers = {"Content-Type": "image/png", "If-None-Match": "*"}
    if length is not None:
        params["ContentLength"] = length
        headers["Content-Length"] = str(length)
    expected = client.generate_presigned_url("put_object", Params=params, ExpiresIn=900)
    assert "if-none-match" in expected
    signer = SigV4Presigner(StaticCredentials(ACCESS, SECRET, TOKEN), region="eu-west-1")
    got = signer.presign(
        "PUT",
        object_url("https://my-bucket.s3.eu-west-1.amazonaws.com/", key),
        headers=headers,
        expires_in=900,
        now=FIXED,
    )
    assert got == expected


@pytest.mark.usefixtures("frozen_botocore")
@pytest.mark.parametrize(
    ("upload_id", "part_number"),
    [("simple", 1), ("2~Zm9v+YmFy/ZHVtbXk=.x_y-z", 10_000), ("with space&amp=", 42)],
)
def test_upload_part_matches_botocore(upload_id: str, part_number: int) -> None:
    client = boto_client(region="eu-west-1", style="virtual", token=TOKEN)
    expected = client.generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": "my-bucket",
            "Key": "a b/c",
            "UploadId": upload_id,
            "PartNumber": part_number,
            "ContentLength": 5 * 1024 * 1024,
        },
        ExpiresIn=3600,
    )
    signer = SigV4Presigner(StaticCredentials(ACCESS, SECRET, TOKEN), region="eu-west-1")
    got = signer.presign(
        "PUT",
        object_url("https://my-bucket.s3.eu-west-1.amazonaws.com/", "a b/c"),
        headers={"Content-Length": str(5 * 1024 * 1024)},
        params=[("uploadId", upload_id), ("partNumber", str(part_number))],
        expires_in=3600,
        now=FIXED,
    )
    assert got == expected


@pytest.fixture(scope="module")
def custom_endpoint() -> tuple[Any, SigV4Presigner]:
    """botocore and our signer for one custom endpoint with a path prefix."""
    client = boto_client(
        region="ap-southeast-2", endpoint_url="https://s3.example.com:8443/prefix", style="path"
    )
    return client, SigV4Presigner(StaticCredentials(ACCESS, SECRET), region="ap-southeast-2")


@settings(max_examples=150, deadline=None)
@given(
    key=st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
        min_size=1,
        max_size=60,
    ),
    content_type=st.from_regex(
        r"[a-z]{1,10}/[a-z0-9.+-]{1,20}( ?; ?[a-z]+=[a-z0-9-]+){0,2}", fullmatch=True
    ),
    length=st.one_of(st.none(), st.integers(0, 5 * 1024**3)),
    expires=st.integers(1, 604_800),
    create_only=st.booleans(),
)
def test_random_inputs_match_botocore(
    custom_endpoint: tuple[Any, SigV4Presigner],
    key: str,
    content_type: str,
    length: int | None,
    expires: int,
    create_only: bool,
) -> None:
    client, signer = custom_endpoint
    params: dict[str, Any] = {"Bucket": "bkt", "Key": key, "ContentType": content_type}
    headers = {"Content-Type": content_type}
    if length is not None:
        params["ContentLength"] = length
        headers["Content-Length"] = str(length)
    if create_only:
        params["IfNoneMatch"] = "*"
        headers["If-None-Match"] = "*"
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)):
        expected = client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires)
    got = signer.presign(
        "PUT",
        object_url("https://s3.example.com:8443/prefix/bkt/", key),
        headers=headers,
        expires_in=expires,
        now=FIXED,
    )
    assert got == expected


def test_signing_key_follows_the_date_and_the_credentials() -> None:
    """The cached signing key is re-derived on a new day and after a refresh."""
    current = {"creds": StaticCredentials(ACCESS, SECRET)}
    signer = SigV4Presigner(lambda: current["creds"], region="us-east-1")
    client_for = {
        SECRET: boto_client(),
        "rotated/secret": boto3.Session(
            aws_access_key_id="AKIDROTATED",
            aws_secret_access_key="rotated/secret",
            aws_session_token="tok",
            region_name="us-east-1",
        ).client("s3", config=Config(signature_version="s3v4")),
    }
    url = "https://my-bucket.s3.amazonaws.com/k"
    moments = [FIXED, FIXED + dt.timedelta(seconds=3), FIXED + dt.timedelta(days=1), FIXED]
    for when, rotate in itertools.product(moments, [False, True]):
        if rotate:
            current["creds"] = StaticCredentials("AKIDROTATED", "rotated/secret", "tok")
        else:
            current["creds"] = StaticCredentials(ACCESS, SECRET)
        client = client_for[current["creds"].secret_key]
        with mock.patch(
            "botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)
        ):
            expected = client.generate_presigned_url(
                "get_object", Params={"Bucket": "my-bucket", "Key": "k"}, ExpiresIn=60
            )
        assert signer.presign("GET", url, expires_in=60, now=when) == expected


def test_refreshable_credentials_are_read_per_url() -> None:
    """With botocore's refreshable credentials every URL uses the current snapshot."""
    issued = iter([(ACCESS, SECRET, TOKEN), ("AKIDROTATED", "rotated/secret", "tok2")])

    def refresh() -> dict[str, str]:
        access, secret, token = next(issued)
        # Always inside botocore's mandatory-refresh window: the next read refreshes.
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        return {
            "access_key": access,
            "secret_key": secret,
            "token": token,
            "expiry_time": soon.isoformat(),
        }

    stale = {
        "access_key": "AKIDSTALE",
        "secret_key": "stale",
        "token": "stale",
        "expiry_time": dt.datetime.now(dt.UTC).isoformat(),
    }
    creds = RefreshableCredentials.create_from_metadata(stale, refresh_using=refresh, method="test")
    signer = SigV4Presigner(creds.get_frozen_credentials, region="us-east-1")
    url = "https://my-bucket.s3.amazonaws.com/k"
    for access, secret, token in [
        (ACCESS, SECRET, TOKEN),
        ("AKIDROTATED", "rotated/secret", "tok2"),
    ]:
        client = boto3.Session(
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            aws_session_token=token,
            region_name="us-east-1",
        ).client("s3", config=Config(signature_version="s3v4"))
        with mock.patch(
            "botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)
        ):
            expected = client.generate_presigned_url(
                "get_object", Params={"Bucket": "my-bucket", "Key": "k"}, ExpiresIn=60
            )
        assert signer.presign("GET", url, expires_in=60, now=FIXED) == expected


def test_naive_now_is_utc_and_other_zones_are_converted() -> None:
    signer = SigV4Presigner(StaticCredentials(ACCESS, SECRET), region="us-east-1")
    url = "https://my-bucket.s3.amazonaws.com/k"
    aware = signer.presign("GET", url, now=FIXED)
    assert signer.presign("GET", url, now=FIXED.replace(tzinfo=None)) == aware
    tokyo = FIXED.astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert signer.presign("GET", url, now=tokyo) == aware


@pytest.mark.parametrize("expires", [0, -1, 604_801])
def test_expiry_outside_sigv4_range_is_rejected(expires: int) -> None:
    signer = SigV4Presigner(StaticCredentials(ACCESS, SECRET), region="us-east-1")
    with pytest.raises(ValueError, match="expires_in"):
        signer.presign("GET", "https://h/k", expires_in=expires)


def test_url_with_query_is_rejected() -> None:
    signer = SigV4Presigner(StaticCredentials(ACCESS, SECRET), region="us-east-1")
    with pytest.raises(ValueError, match="query"):
        signer.presign("GET", "https://h/k?x=1")


def test_unsigned_headers_are_ignored_like_botocore() -> None:
    signer = SigV4Presigner(StaticCredentials(ACCESS, SECRET), region="us-east-1")
    plain = signer.presign("GET", "https://h/k", now=FIXED)
    assert (
        signer.presign(
            "GET", "https://h/k", headers={"User-Agent": "x", "Expect": "100-continue"}, now=FIXED
        )
        == plain
    )


# -- the adapter: endpoint resolution + presigner -----------------------------

ENDPOINTS = [
    None,
    "http://127.0.0.1:9000",
    "http://localhost:9000",
    "https://minio.example.com:8443/s3",
]
CONFIGS = [
    (region, endpoint, style, bucket)
    for region in ("us-east-1", "eu-west-1")
    for endpoint in ENDPOINTS
    for style in ("auto", "path", "virtual")
    for bucket in ("my-bucket", "my.dotted.bucket")
]


#: A download name outside ASCII, as RFC 6266 carries it (header values are ASCII).
DISPOSITION = (
    "attachment; filename=\"resume (1).txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%281%29.txt"
)


@pytest.mark.parametrize(("region", "endpoint", "style", "bucket"), CONFIGS)
def test_adapter_urls_match_botocore(
    region: str, endpoint: str | None, style: str, bucket: str
) -> None:
    """presign_put / presign_part / presign_get equal generate_presigned_url."""
    token = TOKEN if region == "eu-west-1" else None
    client = boto_client(region=region, endpoint_url=endpoint, style=style, token=token)
    storage = adapter(bucket, region=region, endpoint_url=endpoint, style=style, token=token)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)),
        mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED),
    ):
        for key in KEYS[:6]:
            put = storage.presign_put(
                key, content_type="application/pdf", content_length=None, expires_in=600
            )
            assert put.url == client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    "ContentType": "application/pdf",
                    "IfNoneMatch": "*",
                },
                ExpiresIn=600,
            )
            assert put.headers == {"Content-Type": "application/pdf", "If-None-Match": "*"}
            assert put.expires_at == FIXED + dt.timedelta(seconds=600)

            sized = storage.presign_put(
                key, content_type="text/plain; charset=utf-8", content_length=0, expires_in=600
            )
            assert sized.url == client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    "ContentType": "text/plain; charset=utf-8",
                    "ContentLength": 0,
                    "IfNoneMatch": "*",
                },
                ExpiresIn=600,
            )
            assert sized.headers == {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Length": "0",
                "If-None-Match": "*",
            }

            part = storage.presign_part(
                key, "upl+/=id", 17, expires_in=600, content_length=5 * 1024 * 1024
            )
            assert part.url == client.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    "UploadId": "upl+/=id",
                    "PartNumber": 17,
                    "ContentLength": 5 * 1024 * 1024,
                },
                ExpiresIn=600,
            )
            assert (part.part_number, part.upload_id) == (17, "upl+/=id")
            assert part.headers == {"Content-Length": str(5 * 1024 * 1024)}

            get = storage.presign_get(key, expires_in=60)
            assert get.url == client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60
            )
            assert get.method == "GET"

            served = storage.presign_get(
                key,
                expires_in=60,
                version="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
                content_type="text/plain; charset=utf-8",
                content_disposition=DISPOSITION,
            )
            assert served.url == client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    # botocore keeps the caller's order in the URL; the signature
                    # (over the sorted query) does not depend on it.
                    "ResponseContentDisposition": DISPOSITION,
                    "ResponseContentType": "text/plain; charset=utf-8",
                    "VersionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
                },
                ExpiresIn=60,
            )
            assert served.headers == {}


def test_adapter_part_without_length_matches_botocore() -> None:
    client = boto_client()
    storage = adapter("my-bucket")
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)),
        mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED),
    ):
        part = storage.presign_part("k", "u", 1, expires_in=60)
        assert part.url == client.generate_presigned_url(
            "upload_part",
            Params={"Bucket": "my-bucket", "Key": "k", "UploadId": "u", "PartNumber": 1},
            ExpiresIn=60,
        )
        assert part.headers == {}


@given(data=st.binary(max_size=64), part_number=st.integers(1, 10_000))
@settings(max_examples=50, deadline=None)
def test_adapter_part_with_a_checksum_matches_botocore(data: bytes, part_number: int) -> None:
    """The part's CRC32 is a signed header, as botocore signs ChecksumCRC32."""
    client = boto_client()
    storage = adapter("my-bucket")  # on AWS: part checksums on by default
    checksum = PartChecksum.of("crc32", data)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)),
        mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED),
    ):
        part = storage.presign_part(
            "k", "u", part_number, expires_in=60, content_length=len(data), checksum=checksum
        )
        assert part.url == client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": "my-bucket",
                "Key": "k",
                "UploadId": "u",
                "PartNumber": part_number,
                "ContentLength": len(data),
                "ChecksumCRC32": checksum.value,
            },
            ExpiresIn=60,
        )
    assert part.headers == {
        "Content-Length": str(len(data)),
        "x-amz-checksum-crc32": checksum.value,
    }
    assert "x-amz-checksum-crc32" in part.url  # in X-Amz-SignedHeaders


def test_part_checksums_are_on_for_aws_and_off_for_other_endpoints() -> None:
    assert adapter("b").part_limits.checksum_algorithms == {"crc32"}
    custom = adapter("b", endpoint_url="http://127.0.0.1:9000", style="path")
    assert custom.part_limits.checksum_algorithms == frozenset()
    chosen = S3Storage(
        "b",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9000",
        addressing_style="path",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        part_checksums=True,
    )
    assert chosen.part_limits.checksum_algorithms == {"crc32"}


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=80))
def test_percent_encoding_is_urllib_quote(value: str) -> None:
    """The translate-table encoder gives exactly what botocore's quote() gives."""
    from urllib.parse import quote

    from rindle_s3._signer import _PATH_TABLE, _encode, _encode_query

    assert _encode_query(value) == quote(value.encode("utf-8"), safe="-._~")
    assert _encode(value, _PATH_TABLE) == quote(value.encode("utf-8"), safe="/~")
    assert object_url("b/", value) == "b/" + quote(value.encode("utf-8"), safe="/~")


def test_snapshot_cache_reuses_then_rereads() -> None:
    calls: list[int] = []

    def source() -> StaticCredentials:
        calls.append(1)
        return StaticCredentials(f"AKID{len(calls)}", "s")

    kept = SnapshotCache(source, max_age=3600)
    assert kept().access_key == kept().access_key == "AKID1"
    fresh = SnapshotCache(source, max_age=-1)
    assert fresh().access_key == "AKID2"
    assert fresh().access_key == "AKID3"
    assert "AKID" not in repr(kept)


def test_adapter_with_refreshable_credentials_signs_with_them() -> None:
    """A session whose credentials are refreshable (roles, SSO) feeds the presigner."""
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()

    class RoleProvider(CredentialProvider):  # type: ignore[misc]
        METHOD = "test-role"

        def load(self) -> RefreshableCredentials:
            return RefreshableCredentials.create_from_metadata(
                {"access_key": ACCESS, "secret_key": SECRET, "token": TOKEN, "expiry_time": expiry},
                refresh_using=dict,
                method=self.METHOD,
            )

    core = botocore.session.get_session()
    core.get_component("credential_provider").insert_before("env", RoleProvider())
    storage = S3Storage(
        "my-bucket", session=boto3.Session(botocore_session=core, region_name="us-east-1")
    )
    assert isinstance(storage.presigner._credentials, SnapshotCache)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)),
        mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED),
    ):
        got = storage.presign_get("k", expires_in=60).url
        expected = boto_client(token=TOKEN).generate_presigned_url(
            "get_object", Params={"Bucket": "my-bucket", "Key": "k"}, ExpiresIn=60
        )
    assert got == expected


GET_OVERRIDES = [
    ({}, {}),
    ({"content_type": "image/png"}, {"ResponseContentType": "image/png"}),
    (
        {"content_disposition": "inline"},
        {"ResponseContentDisposition": "inline"},
    ),
    (
        {
            "content_type": "application/octet-stream",
            "content_disposition": 'attachment; filename="a b+c&d=e.html"; '
            "filename*=UTF-8''%E5%86%99%E7%9C%9F.html",
        },
        {  # in the adapter's order (botocore keeps the caller's)
            "ResponseContentDisposition": 'attachment; filename="a b+c&d=e.html"; '
            "filename*=UTF-8''%E5%86%99%E7%9C%9F.html",
            "ResponseContentType": "application/octet-stream",
        },
    ),
    ({"version": "null-but-not-really/+=~"}, {"VersionId": "null-but-not-really/+=~"}),
    # An ETag version cannot be bound by a URL: no versionId is signed.
    ({"version": '"9b2cf535f27731c974343645a3985328"'}, {}),
    (
        {"version": '"9b2cf535f27731c974343645a3985328-3"', "content_type": "text/plain"},
        {"ResponseContentType": "text/plain"},
    ),
]


@pytest.mark.parametrize(("options", "params"), GET_OVERRIDES)
@pytest.mark.parametrize("token", [None, TOKEN])
def test_presign_get_overrides_match_botocore(
    options: dict[str, str], params: dict[str, str], token: str | None
) -> None:
    """Response overrides and version ids are signed as botocore signs them."""
    client = boto_client(region="eu-west-1", style="virtual", token=token)
    storage = adapter("my-bucket", region="eu-west-1", style="virtual", token=token)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)),
        mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED),
    ):
        got = storage.presign_get("docs/ünï code.bin", expires_in=300, **options)
        expected = client.generate_presigned_url(
            "get_object",
            Params={"Bucket": "my-bucket", "Key": "docs/ünï code.bin", **params},
            ExpiresIn=300,
        )
    assert got.url == expected
    assert got.headers == {}


_TEXT = st.characters(exclude_categories=["Cs"])


@settings(max_examples=100, deadline=None)
@given(
    content_type=st.one_of(st.none(), st.text(_TEXT, min_size=1, max_size=40)),
    disposition=st.one_of(st.none(), st.text(_TEXT, min_size=1, max_size=60)),
)
def test_random_get_overrides_match_botocore(
    custom_endpoint: tuple[Any, SigV4Presigner], content_type: str | None, disposition: str | None
) -> None:
    client, signer = custom_endpoint
    params: list[tuple[str, str]] = []
    boto_params: dict[str, str] = {"Bucket": "bkt", "Key": "k"}
    if disposition is not None:
        params.append(("response-content-disposition", disposition))
        boto_params["ResponseContentDisposition"] = disposition
    if content_type is not None:
        params.append(("response-content-type", content_type))
        boto_params["ResponseContentType"] = content_type
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)):
        expected = client.generate_presigned_url("get_object", Params=boto_params, ExpiresIn=60)
    got = signer.presign(
        "GET",
        "https://s3.example.com:8443/prefix/bkt/k",
        params=params,
        expires_in=60,
        now=FIXED,
    )
    assert got == expected


# -- the one Content-Type botocore leaves unsigned ----------------------------

FORM_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
FORM_TYPES = [
    FORM_TYPE,  # botocore drops exactly this value from the signature...
    "application/x-www-form-urlencoded",  # ...and signs every other one
    "application/x-www-form-urlencoded; charset=UTF-8",
    "application/x-www-form-urlencoded;charset=utf-8",
    "application/x-www-form-urlencoded;  charset=utf-8",
    "Application/X-WWW-Form-Urlencoded; charset=utf-8",
]


@pytest.mark.usefixtures("frozen_botocore")
@pytest.mark.parametrize("content_type", FORM_TYPES)
@pytest.mark.parametrize("token", [None, TOKEN])
def test_form_urlencoded_content_type_is_signed_as_botocore_signs_it(
    content_type: str, token: str | None
) -> None:
    client = boto_client(endpoint_url="http://127.0.0.1:9000", style="path", token=token)
    expected = client.generate_presigned_url(
        "put_object",
        Params={"Bucket": "bkt", "Key": "k", "ContentType": content_type, "IfNoneMatch": "*"},
        ExpiresIn=900,
    )
    signer = SigV4Presigner(StaticCredentials(ACCESS, SECRET, token), region="us-east-1")
    got = signer.presign(
        "PUT",
        object_url("http://127.0.0.1:9000/bkt/", "k"),
        headers={"Content-Type": content_type, "If-None-Match": "*"},
        expires_in=900,
        now=FIXED,
    )
    assert got == expected
    signed = "host%3Bif-none-match" if content_type == FORM_TYPE else "content-type%3Bhost"
    assert f"X-Amz-SignedHeaders={signed}" in got


@pytest.mark.parametrize("content_type", FORM_TYPES)
def test_adapter_put_with_form_urlencoded_type_matches_botocore(content_type: str) -> None:
    """The adapter's create-only PUT equals botocore's; the client still sends the type."""
    client = boto_client(region="eu-west-1", style="virtual", token=TOKEN)
    storage = adapter("my-bucket", region="eu-west-1", style="virtual", token=TOKEN)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=FIXED.replace(tzinfo=None)),
        mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED),
    ):
        put = storage.presign_put(
            "form.txt", content_type=content_type, content_length=12, expires_in=600
        )
        expected = client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": "my-bucket",
                "Key": "form.txt",
                "ContentType": content_type,
                "ContentLength": 12,
                "IfNoneMatch": "*",
            },
            ExpiresIn=600,
        )
    assert put.url == expected
    assert put.headers["Content-Type"] == content_type


def test_form_urlencoded_post_policy_matches_botocore_and_binds_the_type() -> None:
    """botocore's POST policy has no such exception: the type stays a condition."""
    naive = FIXED.replace(tzinfo=None)
    storage = adapter("my-bucket", region="eu-west-1", style="virtual", token=TOKEN)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=naive),
        mock.patch("botocore.signers.get_current_datetime", return_value=naive),
        mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED),
    ):
        post = storage.presign_post(
            "form.txt", content_type=FORM_TYPE, min_size=1, max_size=10, expires_in=600
        )
        expected = boto_client(
            region="eu-west-1", style="virtual", token=TOKEN
        ).generate_presigned_post(
            "my-bucket",
            "form.txt",
            Fields={"Content-Type": FORM_TYPE},
            Conditions=[{"Content-Type": FORM_TYPE}, ["content-length-range", 1, 10]],
            ExpiresIn=600,
        )
    assert dict(post.fields) == expected["fields"]
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    assert {"Content-Type": FORM_TYPE} in policy["conditions"]
