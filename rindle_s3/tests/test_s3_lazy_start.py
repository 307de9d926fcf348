"""The fast start: building an S3Storage and presigning load no boto3 (ADR 0119).

In the plain explicit configuration (path style on an explicit endpoint and
region; credentials explicit or from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
the adapter computes botocore's answers itself. These tests compare the two
answers field by field and URL by URL, show that every other configuration
still asks botocore and fails as before, and check in a fresh interpreter
that construction and presigning import no SDK while API calls still work.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError, ConfigParseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rindle_core import ConfigurationError, StorageNotFound
from rindle_s3 import BucketEndpoint, S3Storage, resolve_bucket_endpoint
from rindle_s3._config import client_config
from rindle_s3._errors import s3_errors
from rindle_s3._fast_start import fast_start, path_style_endpoint
from s3_test_keys import ACCESS_KEY, SECRET_KEY

FIXED = dt.datetime(2024, 2, 29, 23, 59, 58, tzinfo=dt.UTC)
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=="
PLAIN: dict[str, Any] = {
    "endpoint_url": "http://127.0.0.1:9000",
    "region": "us-east-1",
    "addressing_style": "path",
}
KEYS: dict[str, Any] = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
#: Property tests share the module's isolated environment; nothing varies per example.
SHARED_ENV = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


@functools.cache
def session(token: str | None = None) -> boto3.Session:
    """A session with the test keys (one each: a new one loads botocore's S3 model again)."""
    return boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, aws_session_token=token
    )


def botocores_endpoint(bucket: str, region: str, endpoint_url: str) -> BucketEndpoint:
    """botocore's answer: the probe the slow start runs."""
    return resolve_bucket_endpoint(
        session(),
        bucket,
        region=region,
        endpoint_url=endpoint_url,
        config=client_config(
            addressing_style="path", max_attempts=3, connect_timeout=5.0, read_timeout=10.0
        ),
    )


@pytest.fixture
def probes() -> Iterator[mock.MagicMock]:
    """Counts the botocore endpoint probes (one per adapter that asks botocore)."""
    with mock.patch(
        "rindle_s3._adapter.resolve_bucket_endpoint", wraps=resolve_bucket_endpoint
    ) as probe:
        yield probe


# -- the endpoint: field by field -------------------------------------------

ENDPOINTS = [
    "http://127.0.0.1:9000",
    "http://127.0.0.1:9000/",
    "https://10.1.2.3",
    "http://localhost:4443/storage",
    "http://localhost:4443/storage/",
    "https://s3.example.com/a/b.c/d_e~f-g",
    "https://minio.internal:443",
    "http://minio.internal:80/",
    "https://r2.example:8443/Prefix",
]
REGIONS = ["us-east-1", "eu-west-1", "auto", "garage", "minio-local", "us-gov-west-1", "x1"]
BUCKETS = ["bucket", "my.bucket-1", "a.b.c", "with-dashes-only", "123.45.67.89"]


def test_the_plain_matrix_gets_botocores_endpoint() -> None:
    for endpoint in ENDPOINTS:
        for region in REGIONS:
            for bucket in BUCKETS:
                fast = path_style_endpoint(bucket, region=region, endpoint_url=endpoint)
                assert fast is not None, (bucket, region, endpoint)
                assert fast == botocores_endpoint(bucket, region, endpoint), (
                    bucket,
                    region,
                    endpoint,
                )


LABEL = r"[a-z0-9](?:[a-z0-9-]{0,12}[a-z0-9])?"
labels = st.from_regex(LABEL, fullmatch=True)
hosts = st.one_of(
    st.just("localhost"),
    st.ip_addresses(v=4).map(str),
    st.lists(labels, min_size=1, max_size=4).map(".".join),
)
paths = st.lists(
    st.from_regex(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}", fullmatch=True), max_size=3
).map(lambda segments: "".join("/" + segment for segment in segments))
endpoints = st.builds(
    lambda scheme, host, port, path, slash: (
        f"{scheme}://{host}{'' if port is None else f':{port}'}{path}{'/' if slash else ''}"
    ),
    st.sampled_from(["http", "https"]),
    hosts,
    st.none() | st.integers(1, 65535),
    paths,
    st.booleans(),
)
regions = st.sampled_from(REGIONS) | labels.filter(
    lambda r: not r.isdigit() and "fips" not in r and r != "aws-global"
)
buckets = (
    st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True), max_size=3)
    .map(".".join)
    .filter(lambda b: 3 <= len(b) <= 63 and "--" not in b)
)


@settings(SHARED_ENV, max_examples=250)
@given(bucket=buckets, region=regions, endpoint=endpoints)
def test_any_plain_configuration_gets_botocores_endpoint(
    bucket: str, region: str, endpoint: str
) -> None:
    fast = path_style_endpoint(bucket, region=region, endpoint_url=endpoint)
    assert fast is not None
    slow = botocores_endpoint(bucket, region, endpoint)
    assert (fast.base_url, fast.signing_region, fast.signing_service) == (
        slow.base_url,
        slow.signing_region,
        slow.signing_service,
    )


@pytest.mark.parametrize(
    ("bucket", "region", "endpoint"),
    [
        ("b.c-d", "us-east-1", "http://Host.example:9000"),  # upper case
        ("b.c-d", "us-east-1", "http://user:pw@host:9000"),  # userinfo
        ("b.c-d", "us-east-1", "http://[::1]:9000"),  # IPv6
        ("b.c-d", "us-east-1", "http://host:9000/a?b=c"),  # a query
        ("b.c-d", "us-east-1", "http://host:9000/a/../b"),  # dot segments
        ("b.c-d", "us-east-1", "http://host:9000//a"),  # empty segments
        ("b.c-d", "us-east-1", "http://host:9000/a%20b"),  # percent-encoded
        ("b.c-d", "us-east-1", "http://host:09000"),  # leading zero
        ("b.c-d", "us-east-1", "http://host:70000"),  # no such port
        ("b.c-d", "us-east-1", "http://-host:9000"),  # not a host name
        ("b.c-d", "fips-us-east-1", "http://host:9000"),  # botocore rewrites it
        ("b.c-d", "us-east-1-fips", "http://host:9000"),
        ("b.c-d", "aws-global", "http://host:9000"),
        ("b.c-d", "012", "http://host:9000"),  # botocore refuses it
        ("b.c-d", "EU-west-1", "http://host:9000"),
        ("Legacy_Bucket", "us-east-1", "http://host:9000"),
        ("b--op-s3", "us-east-1", "http://host:9000"),
        ("xn--b", "us-east-1", "http://host:9000"),
        ("ab", "us-east-1", "http://host:9000"),
        ("b" * 64, "us-east-1", "http://host:9000"),
    ],
)
def test_anything_not_plain_is_left_to_botocore(bucket: str, region: str, endpoint: str) -> None:
    assert path_style_endpoint(bucket, region=region, endpoint_url=endpoint) is None


# -- the adapters: URL by URL ------------------------------------------------


def presigned(storage: S3Storage, key: str) -> list[object]:
    """Everything the adapter signs for *key*, at FIXED."""
    with mock.patch("rindle_s3._adapter.utcnow", return_value=FIXED):
        put = storage.presign_put(key, content_type="text/plain", content_length=3, expires_in=60)
        post = storage.presign_post(
            key, content_type="image/png", min_size=1, max_size=1024, expires_in=600
        )
        get = storage.presign_get(
            key, expires_in=300, version="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", content_type="a/b"
        )
        part = storage.presign_part(key, "upload-1", 7, expires_in=900, content_length=5 << 20)
    return [
        (put.url, put.headers),
        (post.url, post.fields),
        (get.url, get.headers),
        (part.url, part.headers),
        storage.object_url(key),
        storage.region,
        repr(storage),
    ]


def botocore_adapter(bucket: str, token: str | None = None, **options: Any) -> S3Storage:
    """The same adapter, made to ask botocore (an explicit session with the same keys)."""
    return S3Storage(bucket, session=session(token), **options)


@settings(SHARED_ENV, max_examples=100)
@given(
    bucket=buckets,
    region=regions,
    endpoint=endpoints,
    key=st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=60),
    token=st.none() | st.just(TOKEN),
)
def test_fast_adapters_sign_what_botocore_adapters_sign(
    probes: mock.MagicMock, bucket: str, region: str, endpoint: str, key: str, token: str | None
) -> None:
    options: dict[str, Any] = {
        "region": region,
        "endpoint_url": endpoint,
        "addressing_style": "path",
    }
    probes.reset_mock()
    fast = S3Storage(bucket, **KEYS, aws_session_token=token, **options)
    assert probes.call_count == 0
    slow = botocore_adapter(bucket, token, **options)
    assert probes.call_count == 1
    assert presigned(fast, key) == presigned(slow, key)


@pytest.mark.parametrize("token", [None, TOKEN])
def test_environment_credentials_take_the_fast_start(
    monkeypatch: pytest.MonkeyPatch, probes: mock.MagicMock, token: str | None
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    if token is not None:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    fast = S3Storage("media.bucket", **PLAIN)
    assert probes.call_count == 0
    assert presigned(fast, "k/ü") == presigned(
        botocore_adapter("media.bucket", token, **PLAIN), "k/ü"
    )


def test_inert_shared_files_keep_the_fast_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, probes: mock.MagicMock
) -> None:
    """A developer's ~/.aws with a default region and keys changes nothing here."""
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[default]\nregion = eu-central-1\noutput = json\n[profile x]\nregion = a\n")
    credentials.write_text("[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = o\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    fast = S3Storage("bucket", **PLAIN, **KEYS)
    assert probes.call_count == 0
    assert presigned(fast, "k") == presigned(botocore_adapter("bucket", **PLAIN), "k")


# -- every other configuration asks botocore ----------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"addressing_style": "auto"},
        {"addressing_style": "virtual"},
        {"region": None},
        {"endpoint_url": None},
        {"region": "fips-us-east-1"},
        {"region": "aws-global"},
        {"endpoint_url": "http://[::1]:9000/x"},
        {"endpoint_url": "http://127.0.0.1:9000/a//b/../c"},
    ],
    ids=repr,
)
def test_other_options_ask_botocore(probes: mock.MagicMock, options: dict[str, Any]) -> None:
    storage = S3Storage("bucket", **{**PLAIN, **KEYS, **options})
    assert probes.call_count == 1
    assert storage.presign_put("k", content_type="a/b", content_length=1, expires_in=60).url


@pytest.mark.parametrize(
    "environment",
    [
        {"AWS_PROFILE": "dev"},
        {"AWS_DEFAULT_PROFILE": "dev"},
        {"AWS_USE_FIPS_ENDPOINT": "false"},
        {"AWS_S3_US_EAST_1_REGIONAL_ENDPOINT": "regional"},
        {"AWS_SECURITY_TOKEN": TOKEN},
        {"AWS_CREDENTIAL_EXPIRATION": "2099-01-01T00:00:00Z"},
        {"AWS_DATA_PATH": "/nonexistent"},
        {"BOTO_CONFIG": "/nonexistent"},
    ],
    ids=repr,
)
def test_other_environments_ask_botocore(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    probes: mock.MagicMock,
    environment: dict[str, str],
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    S3Storage("bucket", **PLAIN)
    assert probes.call_count == 1


def test_a_session_or_a_profile_asks_botocore(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, probes: mock.MagicMock
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[dev]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    S3Storage("bucket", **PLAIN, profile="dev")
    S3Storage("bucket", **PLAIN, session=session())
    assert probes.call_count == 2


def test_a_shared_setting_that_changes_the_url_asks_botocore(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """S3 Accelerate in the default profile: botocore refuses the endpoint, as before."""
    config = tmp_path / "config"
    config.write_text("[default]\ns3 =\n    use_accelerate_endpoint = true\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert fast_start("bucket", profile=None, **PLAIN, **KEYS, aws_session_token=None) is None
    with pytest.raises(ConfigurationError, match="EndpointResolutionError"):
        S3Storage("bucket", **PLAIN, **KEYS)


def test_partial_or_missing_credentials_ask_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    def start(**credentials: str | None) -> object:
        arguments: dict[str, Any] = {
            "aws_access_key_id": None,
            "aws_secret_access_key": None,
            "aws_session_token": None,
            **credentials,
        }
        return fast_start("b.c", profile=None, **PLAIN, **arguments)

    assert start() is None
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    assert start() is None  # no secret
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    assert start() is None  # botocore treats an empty value as missing
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    assert start() is not None
    assert start(aws_session_token=TOKEN) is None  # a token without keys


@pytest.mark.parametrize(
    ("environment", "options", "message"),
    [
        ({"AWS_PROFILE": "missing"}, KEYS, "option 'profile': AWS profile"),
        ({"AWS_CA_BUNDLE": " "}, KEYS, "cannot address bucket 'bucket': InvalidConfigError"),
        ({"REQUESTS_CA_BUNDLE": ""}, KEYS, "cannot address bucket 'bucket': InvalidConfigError"),
        ({}, {**KEYS, "region": "012"}, "cannot address bucket 'bucket': InvalidRegionError"),
        (
            {},
            {**KEYS, "endpoint_url": "http://bad_host:9000"},
            "cannot address bucket 'bucket': ValueError",
        ),
        (
            {"AWS_ACCESS_KEY_ID": ACCESS_KEY},
            {},
            "cannot load AWS credentials: PartialCredentialsError",
        ),
        ({}, {"aws_session_token": TOKEN}, "the AWS credentials lack an access key or secret key"),
        ({}, {}, "no AWS credentials found"),
    ],
)
def test_broken_configurations_fail_as_before(
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    options: dict[str, str],
    message: str,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        S3Storage("bucket", **{**PLAIN, **options})


def test_an_unparsable_shared_file_fails_as_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """botocore's own error, as before the fast start existed (it is not a ConfigurationError)."""
    config = tmp_path / "config"
    config.write_text("[default\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    with pytest.raises(ConfigParseError):
        S3Storage("bucket", **PLAIN, **KEYS)


# -- errors and logs without botocore loaded up front ------------------------


def test_s3_errors_translates_sdk_errors_and_passes_others_through() -> None:
    refused = ClientError({"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {}}, "GetObject")
    with pytest.raises(StorageNotFound, match="S3 Op failed: NoSuchKey"), s3_errors("Op"):
        raise refused
    with pytest.raises(KeyError), s3_errors("Op"):
        raise KeyError("not an SDK error")


FRESH = """
import json, sys
import httpx
from rindle_s3 import S3Storage
import rindle_s3._adapter, rindle_s3._config, rindle_s3._endpoint, rindle_s3._errors
import rindle_s3._fast_start
endpoint, bucket, access, secret = sys.argv[1:5]
sdk = lambda: sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))
after_import = sdk()
storage = S3Storage(bucket, endpoint_url=endpoint, region="us-east-1", addressing_style="path",
                    aws_access_key_id=access, aws_secret_access_key=secret)
put = storage.presign_put("fresh.txt", content_type="text/plain", content_length=3, expires_in=60)
part = storage.presign_part("big.bin", "upload-1", 1, expires_in=60, content_length=5)
post = storage.presign_post("form.txt", content_type="text/plain", min_size=1, max_size=9,
                            expires_in=60)
get = storage.presign_get("fresh.txt", expires_in=60)
after_presigning = sdk()
status = httpx.put(put.url, headers=put.headers, content=b"abc").status_code
head = storage.head("fresh.txt")
try:
    storage.head("missing.txt")
    missing = "found"
except Exception as exc:
    missing = type(exc).__name__
import logging
unredacted = [
    name for name in logging.Logger.manager.loggerDict
    if name.split(".")[0] in ("botocore", "boto3", "urllib3", "s3transfer")
    and not any(type(f).__name__ == "SecretRedactingFilter"
                for f in logging.getLogger(name).filters)
]
print(json.dumps({
    "after_import": after_import, "after_presigning": after_presigning, "status": status,
    "size": head.size, "missing": missing, "botocore_now": "botocore" in sys.modules,
    "unredacted": unredacted,
}))
"""


def test_a_fresh_interpreter_presigns_without_the_sdk_then_calls_the_api(
    signed_s3_endpoint: str, bucket: str
) -> None:
    """Through the signature-checking front: the fast start's PUT is one S3 would accept."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FRESH), signed_s3_endpoint, bucket]
        + [ACCESS_KEY, SECRET_KEY],
        env=dict(os.environ),  # the isolated AWS environment of conftest
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["after_import"] == []
    assert result["after_presigning"] == []
    assert result["status"] == 200
    assert result["size"] == 3
    assert result["missing"] == "StorageNotFound"
    assert result["botocore_now"] is True  # the API calls loaded it
    assert result["unredacted"] == []  # every SDK logger created since is redacted
