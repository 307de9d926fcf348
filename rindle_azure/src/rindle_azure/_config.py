"""Build an :class:`AzureBlobStorage` from the options of a ``type = "azure"`` storage.

Options (a TOML ``[storage.NAME]`` table, or keyword arguments):

``container``
    Required. The container uploads go to.
``connection_string``
    An account connection string with an ``AccountKey``. When neither this
    nor ``account_url`` is given, ``AZURE_STORAGE_CONNECTION_STRING`` is used.
``account_url`` + ``account_key``
    The blob endpoint (``https://<account>.blob.core.windows.net``) and the
    base64 account key.
``account_url`` + ``credential`` + ``sas = "user_delegation"``
    Sign user delegation SAS with a Microsoft Entra ID token credential
    object (for example ``azure.identity.DefaultAzureCredential()``); no
    account key is needed. Only from Python, not from TOML.
``create_container``
    Create the container at start-up if missing (development). Default false.
``create_only``
    Accepted for compatibility; must be true (the default). Upload URLs are
    always create-only (SAS permission ``c``): none can replace a blob.
``connection_timeout`` / ``read_timeout``
    Seconds to wait for a connection (default 5) and between bytes of an
    answer (default 10), per attempt.
``retries``
    How many times the SDK retries a failed service call (``retry_total``,
    default 2, back-off about 1 s then 3 s). A hanging service fails with
    ``StorageUnavailable`` after at most about
    ``(retries + 1) * (connection_timeout + read_timeout) + 6`` seconds.
    Signing URLs never calls the service.

Every problem raises :class:`~rindle_core.ConfigurationError` naming the
option; no message ever contains a key or a connection string.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from azure.storage.blob import BlobServiceClient

from rindle_core.plugins import Options, check_string, option_error

from ._adapter import AzureBlobStorage
from ._sas import SasSigner, SharedKeySigner, UserDelegationSigner
from ._transport import (
    DEFAULT_CONNECTION_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRIES,
    TransportOptions,
    client_transport_options,
)

__all__ = ["CONNECTION_STRING_ENV", "OPTIONS", "create_storage"]

#: Environment variable read when no connection string or account URL is configured.
CONNECTION_STRING_ENV: Final = "AZURE_STORAGE_CONNECTION_STRING"

#: The options of a ``type = "azure"`` storage.
OPTIONS: Final = (
    "container",
    "connection_string",
    "account_url",
    "account_key",
    "credential",
    "sas",
    "create_container",
    "create_only",
    "connection_timeout",
    "read_timeout",
    "retries",
)
_CONTAINER: Final = re.compile(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]|\$root")


def create_storage(
    options: Mapping[str, object] | None = None,
    /,
    *,
    base_dir: str | Path | None = None,
    **keywords: object,
) -> AzureBlobStorage:
    """The ``azure`` backend factory: validate *options* and build the adapter.

    From Python the options may be given as keywords too (a token
    ``credential`` object only so). *base_dir* is accepted as by every
    factory; no ``azure`` option is a path.
    """
    read = Options({**(options or {}), **keywords}, known=OPTIONS, base_dir=base_dir)
    container = read.string("container", required=True)
    if not _CONTAINER.fullmatch(container):
        raise read.error(
            "container", "must be 3-63 characters of lowercase letters, digits and single hyphens"
        )
    sas = read.string("sas", "account_key", choices=("account_key", "user_delegation"))
    create = read.boolean("create_container", False)
    if read.boolean("create_only", True) is not True:
        raise read.error(
            "create_only",
            "must be true (upload URLs never replace a stored blob; the option cannot "
            "turn that off)",
        )
    client_options = client_transport_options(
        connection_timeout=read.get("connection_timeout", DEFAULT_CONNECTION_TIMEOUT),
        read_timeout=read.get("read_timeout", DEFAULT_READ_TIMEOUT),
        retries=read.get("retries", DEFAULT_RETRIES),
    )

    if sas == "user_delegation":
        service, signer = _user_delegation(read, client_options)
    else:
        service, signer = _account_key(read, client_options)
    storage = AzureBlobStorage(service.get_container_client(container), signer)
    if create:
        storage.ensure_container()
    return storage


def _account_key(
    read: Options, client_options: TransportOptions
) -> tuple[BlobServiceClient, SasSigner]:
    if read.get("credential") is not None:
        raise read.error("credential", "needs sas = 'user_delegation'")
    connection_string = read.get("connection_string")
    account_url = read.get("account_url")
    if connection_string is not None and account_url is not None:
        raise read.error("connection_string", "does not go with 'account_url': give one of them")
    if connection_string is None and account_url is None:
        connection_string = os.environ.get(CONNECTION_STRING_ENV) or None
        if connection_string is None:
            raise read.error(
                "connection_string",
                "is required (or 'account_url' and 'account_key', or the "
                f"{CONNECTION_STRING_ENV} environment variable)",
            )
    if connection_string is not None:
        connection_string = check_string("connection_string", connection_string)
        if read.get("account_key") is not None:
            raise read.error("account_key", "goes with 'account_url', not with a connection string")
        try:
            service = BlobServiceClient.from_connection_string(connection_string, **client_options)
        except (ValueError, TypeError):
            raise read.error("connection_string", "is malformed") from None
        key = getattr(service.credential, "account_key", None)
        if not isinstance(key, str) or not key:
            raise read.error(
                "connection_string",
                "has no AccountKey (a SAS connection string cannot sign upload URLs)",
            )
    else:
        url = _account_url(account_url)
        if read.get("account_key") is None:
            raise read.error("account_key", "is required with 'account_url'")
        key = read.string("account_key", required=True)
        _check_account_key(key)
        try:
            service = BlobServiceClient(url, credential=key, **client_options)
        except (ValueError, TypeError):
            raise read.error("account_url", "is invalid") from None
    _check_account_key(key)
    signer = SharedKeySigner(str(service.account_name), key, protocol=_protocol(service.url))
    return service, signer


def _check_account_key(key: str) -> None:
    try:
        valid = bool(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise option_error("account_key", "must be valid base64")


def _user_delegation(
    read: Options, client_options: TransportOptions
) -> tuple[BlobServiceClient, SasSigner]:
    for option in ("connection_string", "account_key"):
        if read.get(option) is not None:
            raise read.error(option, "does not go with sas = 'user_delegation'")
    url = _account_url(read.get("account_url"))
    credential = read.get("credential")
    if credential is None or not hasattr(credential, "get_token"):
        raise read.error(
            "credential",
            "must be a token credential (e.g. azure.identity.DefaultAzureCredential()) "
            "with sas = 'user_delegation'",
        )
    service = BlobServiceClient(url, credential=credential, **client_options)
    return service, UserDelegationSigner(service, protocol=_protocol(service.url))


def _account_url(value: object) -> str:
    if value is None:
        raise option_error("account_url", "is required")
    value = check_string("account_url", value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise option_error("account_url", "must be an http(s) URL")
    if parts.query or parts.username or parts.password:
        raise option_error("account_url", "must not carry a query string or credentials")
    return value


def _protocol(url: str) -> str | None:
    """``https`` for TLS endpoints, so the SAS is refused over plain HTTP."""
    return "https" if urlsplit(url).scheme == "https" else None
