"""The fast V4 signer equals google-cloud-storage's on random inputs.

The signer encodes with ``str.translate`` tables and caches the date, the
credential and the signed-header list; these tests hold it to the SDK's
``generate_signed_url_v4`` (which uses ``urllib.parse.quote`` and nothing
cached) for random keys, headers, query parameters, clocks and endpoints.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import TransportError
from google.cloud import storage as gcs
from google.cloud.storage import _signing as sdk_signing
from google.cloud.storage.blob import _quote
from google.oauth2 import service_account
from hypothesis import given, settings
from hypothesis import strategies as st

from rindle_core import StorageError
from rindle_gcs import GCSStorage, KeySigner, V4Signer
from rindle_gcs._resumable import ResumableProtocol
from rindle_gcs._signing import _encode, _quote_key, _quote_param

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)


@given(_TEXT)
def test_the_encoding_tables_are_urllib_quote(value: str) -> None:
    assert _quote_param(value) == quote(value, safe="~")
    assert _quote_key(value) == quote(value.encode("utf-8"), safe=b"/~")
    assert _encode(value) == quote(value, safe="~")


@pytest.fixture(scope="module")
def credentials(service_account_key: Path) -> Any:
    return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(service_account_key)
    )


_HEADER_NAME = st.sampled_from(
    [
        "Content-Type",
        "content-type",
        " Content-Length",
        "X-Goog-Meta-U",
        "x-goog-if-generation-match",
        "X-Goog-Content-SHA256",
        "Host",
        "Origin",
    ]
)
_HEADER_VALUE = st.text(st.characters(min_codepoint=9, max_codepoint=126), min_size=1, max_size=30)
_QUERY_NAME = st.one_of(
    st.sampled_from(["generation", "response-content-type", "X-Goog-Date", "x-goog-date"]),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=10),
)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"]),
    key=st.one_of(st.none(), _TEXT.filter(bool)),
    headers=st.dictionaries(_HEADER_NAME, _HEADER_VALUE, max_size=5),
    query=st.dictionaries(_QUERY_NAME, _TEXT, max_size=4),
    expires_in=st.integers(1, 7 * 24 * 3600),
    when=st.datetimes(
        dt.datetime(1990, 1, 1), dt.datetime(2090, 1, 1), timezones=st.just(dt.UTC)
    ).map(lambda moment: moment.replace(microsecond=0)),
    endpoint=st.sampled_from(
        ["https://storage.googleapis.com", "http://127.0.0.1:9023", "http://h:4443/storage"]
    ),
)
def test_random_urls_equal_the_sdks(
    credentials: Any,
    method: str,
    key: str | None,
    headers: dict[str, str],
    query: dict[str, str],
    expires_in: int,
    when: dt.datetime,
    endpoint: str,
) -> None:
    signer = V4Signer(KeySigner(credentials), endpoint=endpoint)
    # One signer for several dates and header shapes: its caches must follow.
    for moment in (when, when + dt.timedelta(days=1, seconds=1)):
        url = signer.sign_url(
            method, "bkt", key, expires_in=expires_in, headers=headers, query=query, now=moment
        )
        resource = "/bkt" if key is None else f"/bkt/{_quote(key, safe=b'/~')}"
        expected = sdk_signing.generate_signed_url_v4(
            credentials,
            resource=resource,
            expiration=expires_in,
            api_access_endpoint=endpoint,
            method=method,
            headers=dict(headers),
            query_parameters=dict(query),
            _request_timestamp=moment.strftime("%Y%m%dT%H%M%SZ"),
        )
        assert url == expected


class _NoHTTP:
    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        raise AssertionError("no HTTP request expected")


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (TransportError("POST https://iamcredentials.googleapis.com/...: boom"), "TransportError"),
        (api_exceptions.Forbidden("signBlob denied for svc@x"), "HTTP 403"),
    ],
)
def test_a_failing_signature_is_mapped_as_before(failure: Exception, expected: str) -> None:
    """IAM signBlob failures still become typed storage errors with clean messages."""

    class Failing:
        email = "svc@proj.iam.gserviceaccount.com"

        def sign(self, message: bytes) -> bytes:
            raise failure

    client = gcs.Client(project="p", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    endpoint = "https://storage.googleapis.com"
    storage = GCSStorage(
        bucket=client.bucket("b"),
        resumable=ResumableProtocol(
            endpoint=endpoint, bucket="b", authorized=_NoHTTP(), anonymous=_NoHTTP(), timeout=1
        ),
        signer=V4Signer(Failing(), endpoint=endpoint),
    )
    with pytest.raises(StorageError) as info:
        storage.presign_put("k", content_type="text/plain", content_length=1, expires_in=60)
    assert str(info.value) == f"GCS sign failed: {expected}"
    assert info.value.__suppress_context__
