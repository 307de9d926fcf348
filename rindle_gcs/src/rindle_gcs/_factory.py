"""The ``gcs`` storage factory: options in, a ready :class:`GCSStorage` out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._adapter import GCSStorage

__all__ = ["create_storage"]


def create_storage(
    options: Mapping[str, object] | None = None,
    /,
    *,
    base_dir: str | Path | None = None,
    **keywords: object,
) -> GCSStorage:
    """Build a :class:`GCSStorage` from the options of a ``[storage.NAME]`` table.

    Options: ``bucket`` (required), ``project``, ``credentials_file`` (a
    relative path starts at *base_dir*: the configuration file's directory,
    else the working directory), ``endpoint_url``, ``anonymous``,
    ``hmac_access_id`` and ``hmac_secret`` (an HMAC key then signs URLs and
    POST policies instead of the credentials),
    ``connect_timeout``, ``read_timeout`` (formerly ``timeout``),
    ``retry_timeout`` (see ``docs/storage/gcs.md``); from Python they may be
    given as keywords too. Raises :class:`~rindle_core.ConfigurationError`
    naming the offending option. Every request the storage makes (API
    calls, resumable protocol, IAM signing) is bounded by the timeouts and
    the retry budget.
    """
    # The SDKs load when a gcs storage is built, not when the plugin loads.
    import requests
    from google.api_core.retry import Retry
    from google.auth.transport.requests import AuthorizedSession
    from google.cloud import storage
    from google.cloud.storage.retry import DEFAULT_RETRY

    from ._adapter import GCSStorage
    from ._config import GCSSettings, hmac_signer, load_credentials, signer_for
    from ._resumable import ResumableProtocol
    from ._signing import V4Signer

    settings = GCSSettings.from_options({**(options or {}), **keywords}, base_dir=base_dir)
    api_credentials, signing_credentials = load_credentials(settings)
    authorized = AuthorizedSession(api_credentials)  # type: ignore[no-untyped-call]
    client = storage.Client(
        project=settings.project,
        credentials=api_credentials,
        _http=authorized,
        client_options={"api_endpoint": settings.endpoint},
    )
    signer = hmac_signer(settings) or signer_for(signing_credentials, timeout=settings.timeouts)
    retry: Retry | None = (
        DEFAULT_RETRY.with_timeout(settings.retry_timeout) if settings.retry_timeout else None
    )
    return GCSStorage(
        bucket=client.bucket(settings.bucket),
        resumable=ResumableProtocol(
            endpoint=settings.endpoint,
            bucket=settings.bucket,
            authorized=authorized,
            anonymous=requests.Session(),
            timeout=settings.timeouts,
            retry_timeout=settings.retry_timeout,
        ),
        signer=V4Signer(signer, endpoint=settings.endpoint) if signer else None,
        timeout=settings.timeouts,
        retry=retry,
    )
