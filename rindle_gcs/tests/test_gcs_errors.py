"""SDK exceptions mapped to rindle's storage errors, with clean messages."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as api_exceptions

from rindle_core import StorageError, StorageNotFound, StorageUnavailable
from rindle_gcs._errors import error_for_status, gcs_errors

LEAKY = "GET https://storage.googleapis.com/b/o?X-Goog-Signature=SECRETSIG: boom"


@pytest.mark.parametrize(
    ("exc", "expected", "detail"),
    [
        (api_exceptions.NotFound(LEAKY), StorageNotFound, "HTTP 404"),
        (api_exceptions.Forbidden(LEAKY), StorageError, "HTTP 403"),
        (api_exceptions.BadRequest(LEAKY), StorageError, "HTTP 400"),
        (api_exceptions.MethodNotImplemented(LEAKY), StorageError, "HTTP 501"),
        (api_exceptions.TooManyRequests(LEAKY), StorageUnavailable, "HTTP 429"),
        (api_exceptions.ServiceUnavailable(LEAKY), StorageUnavailable, "HTTP 503"),
        (api_exceptions.InternalServerError(LEAKY), StorageUnavailable, "HTTP 500"),
        (api_exceptions.RetryError(LEAKY, cause=None), StorageUnavailable, "RetryError"),
        (requests.ConnectionError(LEAKY), StorageUnavailable, "ConnectionError"),
        (requests.Timeout(LEAKY), StorageUnavailable, "Timeout"),
        (requests.exceptions.InvalidURL(LEAKY), StorageError, "InvalidURL"),
    ],
)
def test_sdk_exceptions_map_to_rindle_errors(
    exc: Exception, expected: type[StorageError], detail: str
) -> None:
    with pytest.raises(StorageError) as info, gcs_errors("head"):
        raise exc

    assert type(info.value) is expected
    assert str(info.value) == f"GCS head failed: {detail}"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_unrelated_exceptions_pass_through() -> None:
    with pytest.raises(KeyError), gcs_errors("head"):
        raise KeyError("not ours")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, StorageNotFound),
        (408, StorageUnavailable),
        (502, StorageUnavailable),
        (401, StorageError),
        (501, StorageError),
    ],
)
def test_error_for_status(status: int, expected: type[StorageError]) -> None:
    error = error_for_status("resumable create", status)
    assert type(error) is expected
    assert str(error) == f"GCS resumable create failed: HTTP {status}"
