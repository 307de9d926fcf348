"""Bounded waits: a service that accepts connections but never answers fails fast and typed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rindle_azure import create_storage
from rindle_azure._transport import (
    DEFAULT_CONNECTION_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRIES,
)
from rindle_core import ConfigurationError, StorageUnavailable

KEY = "Zm9vYmFy"
#: A bound on a hang, far above what the settings allow and far below the
#: SDK's own defaults (20 s + 60 s per attempt, 3 retries after 15-24 s).
GENEROUS = 60.0


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An HTTP endpoint whose TCP connections are accepted (backlog) and never answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/devstoreaccount1"


def _storage(endpoint: str, **options: Any) -> Any:
    return create_storage(container="uploads", account_url=endpoint, account_key=KEY, **options)


def test_a_hanging_service_is_unavailable_within_the_configured_bound(
    silent_endpoint: str,
) -> None:
    storage = _storage(silent_endpoint, connection_timeout=1, read_timeout=0.5, retries=1)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as info:
        storage.head("a/b.pdf")
    assert time.monotonic() - started < GENEROUS / 4
    assert KEY not in str(info.value)


def test_a_hanging_service_is_unavailable_within_a_minute_by_default(
    silent_endpoint: str,
) -> None:
    """Default settings: at most 2 attempts of 10 s plus about 1 s of back-off."""
    storage = _storage(silent_endpoint)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        storage.head("a/b.pdf")
    assert time.monotonic() - started < GENEROUS


def test_defaults_reach_the_sdk() -> None:
    storage = create_storage(
        container="uploads", account_url="https://acct.blob.core.windows.net", account_key=KEY
    )
    client: Any = storage._container
    transport = client._pipeline._transport._transport.connection_config
    assert (transport.timeout, transport.read_timeout) == (
        DEFAULT_CONNECTION_TIMEOUT,
        DEFAULT_READ_TIMEOUT,
    )
    policy = client._config.retry_policy
    assert (policy.total_retries, policy.read_retries) == (DEFAULT_RETRIES, 1)
    assert policy.initial_backoff == 1  # the SDK waits 15 s before its first retry


def test_options_reach_the_sdk() -> None:
    storage = create_storage(
        container="uploads",
        account_url="https://acct.blob.core.windows.net",
        account_key=KEY,
        connection_timeout=2,
        read_timeout=30.5,
        retries=0,
    )
    client: Any = storage._container
    transport = client._pipeline._transport._transport.connection_config
    assert (transport.timeout, transport.read_timeout) == (2.0, 30.5)
    assert client._config.retry_policy.total_retries == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("connection_timeout", 0),
        ("connection_timeout", -1),
        ("connection_timeout", "5"),
        ("connection_timeout", True),
        ("connection_timeout", float("nan")),
        ("read_timeout", float("inf")),
        ("read_timeout", 10**400),
        ("read_timeout", 601),
        ("retries", -1),
        ("retries", 11),
        ("retries", 2.0),
        ("retries", 10**400),
    ],
)
def test_bad_bounds_are_configuration_errors(option: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=option):
        create_storage(
            container="uploads",
            account_url="https://acct.blob.core.windows.net",
            account_key=KEY,
            **{option: value},
        )
