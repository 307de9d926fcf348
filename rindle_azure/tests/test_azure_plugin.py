"""The plugin is discovered through the ``rindle`` entry point; its options are validated."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from rindle_azure import AzureBlobStorage, create_storage
from rindle_azure._sas import UserDelegationSigner
from rindle_core import ConfigurationError
from rindle_core.plugins import build_storage, make_plugin_manager, storage_factories

if TYPE_CHECKING:
    from conftest import Azurite

PACKAGE = Path(__file__).resolve().parents[1]


def test_the_entry_point_is_declared_and_installed() -> None:
    declared = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert declared["entry-points"]["rindle"] == {"azure": "rindle_azure._plugin"}
    installed = importlib.metadata.distribution("rindle-azure").entry_points.select(group="rindle")
    assert [(ep.name, ep.value) for ep in installed] == [("azure", "rindle_azure._plugin")]


def test_storage_factories_contain_azure_from_the_entry_point() -> None:
    pm = make_plugin_manager(load_entrypoints=True)
    assert storage_factories(pm)["azure"] is create_storage
    assert make_plugin_manager(load_entrypoints=False).get_plugin("azure") is None


def test_discovered_alone_in_a_fresh_process(azurite: Azurite, container_name: str) -> None:
    """Only rindle-azure's entry point loads, and it builds a working adapter."""
    script = (
        "import json, sys\n"
        "from rindle_core.plugins import build_storage, storage_factories\n"
        "options = json.loads(sys.argv[1])\n"
        "storage = build_storage('azure', options)\n"
        "storage.ensure_container()\n"
        "print(json.dumps({'types': sorted(storage_factories()),\n"
        "                  'class': type(storage).__name__, 'backend': storage.backend}))\n"
    )
    options = {"container": container_name, "connection_string": azurite.connection_string}
    env = {**os.environ, "RINDLE_LOAD_PLUGINS": "rindle-azure"}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(options)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {
        "types": ["azure", "local"],
        "class": "AzureBlobStorage",
        "backend": "azure",
    }


def test_build_storage_from_options(azurite: Azurite, container_name: str) -> None:
    storage = build_storage(
        "azure", {"container": container_name, "connection_string": azurite.connection_string}
    )
    assert isinstance(storage, AzureBlobStorage)
    assert storage.container_name == container_name


def test_connection_string_from_the_environment(
    azurite: Azurite, container_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    storage = create_storage(container=container_name, create_container=True)
    storage.delete("nothing-here")  # talks to Azurite: the container now exists


def test_account_url_and_key(azurite: Azurite, container_name: str) -> None:
    storage = create_storage(
        container=container_name,
        account_url=azurite.blob_endpoint,
        account_key=azurite.account_key,
        create_container=True,
    )
    request = storage.presign_put("k", content_type="text/plain", content_length=1, expires_in=60)
    assert request.url.startswith(f"{azurite.blob_endpoint}/{container_name}/k?")
    assert "spr=" not in request.url  # plain HTTP endpoint: no https-only restriction


def test_https_endpoints_get_https_only_tokens() -> None:
    key = "Zm9vYmFy"
    storage = create_storage(
        container="uploads", account_url="https://acct.blob.core.windows.net", account_key=key
    )
    request = storage.presign_put("a/b.pdf", content_type="application/pdf", content_length=1,
                                  expires_in=60)  # fmt: skip
    assert request.url.startswith("https://acct.blob.core.windows.net/uploads/a/b.pdf?")
    assert "&spr=https&" in request.url


class _Token:
    def get_token(self, *scopes: str, **kwargs: Any) -> object:
        raise AssertionError("not called at construction")


def test_user_delegation_needs_a_token_credential() -> None:
    storage = create_storage(
        container="uploads",
        account_url="https://acct.blob.core.windows.net",
        credential=_Token(),
        sas="user_delegation",
    )
    assert isinstance(storage._signer, UserDelegationSigner)
    with pytest.raises(ConfigurationError, match="'credential'"):
        create_storage(
            container="uploads",
            account_url="https://acct.blob.core.windows.net",
            sas="user_delegation",
        )


SECRET_KEY = "c2VjcmV0LWtleS0xMjM0NTY3ODkw"
SECRET_CS = (
    "DefaultEndpointsProtocol=https;AccountName=acct;"
    f"AccountKey={SECRET_KEY};EndpointSuffix=core.windows.net"
)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({}, "container"),
        ({"container": "Bad_Name", "connection_string": SECRET_CS}, "container"),
        ({"container": "ab", "connection_string": SECRET_CS}, "container"),
        ({"container": "a--b", "connection_string": SECRET_CS}, "container"),
        ({"container": "ok-name", "connection_string": SECRET_CS, "bucket": "x"}, "bucket"),
        ({"container": "ok-name", "connection_string": "garbage"}, "connection_string"),
        ({"container": "ok-name", "connection_string": 5}, "connection_string"),
        (
            {
                "container": "ok-name",
                "connection_string": "BlobEndpoint=https://a.blob.core.windows.net;"
                "SharedAccessSignature=sv=2020&sig=c2VjcmV0",
            },
            "connection_string",
        ),
        ({"container": "ok-name", "account_url": "https://a.example"}, "account_key"),
        (
            {"container": "ok-name", "account_url": "ftp://a", "account_key": SECRET_KEY},
            "account_url",
        ),
        (
            {"container": "ok-name", "account_url": "https://a.example/?sig=x", "account_key": "k"},
            "account_url",
        ),
        (
            {"container": "ok-name", "account_url": "https://a.example", "account_key": "%%%"},
            "account_key",
        ),
        (
            {"container": "ok-name", "connection_string": SECRET_CS, "account_url": "https://a"},
            "account_url",
        ),
        ({"container": "ok-name", "connection_string": SECRET_CS, "retries": -1}, "retries"),
        ({"container": "ok-name", "connection_string": SECRET_CS, "sas": "magic"}, "sas"),
        (
            {"container": "ok-name", "connection_string": SECRET_CS, "create_only": "yes"},
            "create_only",
        ),
        (
            {"container": "ok-name", "connection_string": SECRET_CS, "create_only": False},
            "create_only",
        ),
        (
            {"container": "ok-name", "connection_string": SECRET_CS, "connection_timeout": "5s"},
            "connection_timeout",
        ),
        (
            {"container": "ok-name", "connection_string": SECRET_CS, "read_timeout": 0},
            "read_timeout",
        ),
        ({"container": "ok-name", "connection_string": SECRET_CS, "retries": 10**30}, "retries"),
        (
            {"container": "ok-name", "connection_string": SECRET_CS, "credential": object()},
            "credential",
        ),
    ],
)
def test_bad_options_are_configuration_errors_naming_the_option(
    options: dict[str, Any], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(ConfigurationError) as info:
        create_storage(**options)
    message = str(info.value)
    assert named in message
    assert SECRET_KEY not in message and "c2VjcmV0" not in message
    assert info.value.__cause__ is None


def test_missing_credentials_name_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(ConfigurationError, match="AZURE_STORAGE_CONNECTION_STRING"):
        create_storage(container="uploads")
