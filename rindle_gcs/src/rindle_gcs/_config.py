"""The ``gcs`` backend's options, validated, and the clients built from them.

A storage is configured with a TOML table such as::

    [storage.main]
    type = "gcs"
    bucket = "uploads"
    credentials_file = "/etc/rindle/sa.json"   # else Application Default Credentials
    # hmac_access_id = "GOOG1E..."             # sign URLs and policies with an HMAC key
    # hmac_secret = "..."                      #   (both, or neither)
    # endpoint_url = "http://127.0.0.1:9023"   # an emulator (or STORAGE_EMULATOR_HOST)
    # connect_timeout = 5                      # seconds to establish a connection
    # read_timeout = 20                        # seconds to wait for each answer
    # retry_timeout = 20                       # seconds of retries per call (0: none)

Bad or missing options raise :class:`~rindle_core.ConfigurationError`
naming the option, at start-up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import attrs

from rindle_core import ConfigurationError
from rindle_core.plugins import Options, option_error

from ._signing import BlobSigner, HMACSigner, IAMSigner, KeySigner

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.oauth2.service_account import Credentials as ServiceAccountCredentials

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_ENDPOINT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RETRY_TIMEOUT",
    "OPTIONS",
    "GCSSettings",
    "hmac_signer",
    "load_credentials",
    "signer_for",
]

DEFAULT_ENDPOINT: Final = "https://storage.googleapis.com"
#: Seconds to establish a TCP (and TLS) connection.
DEFAULT_CONNECT_TIMEOUT: Final = 5.0
#: Seconds to wait for the server between bytes of an answer.
DEFAULT_READ_TIMEOUT: Final = 20.0
#: Seconds of retries per call (no new attempt starts after it).
DEFAULT_RETRY_TIMEOUT: Final = 20.0
#: The longest wait any timeout option accepts.
_MAX_SECONDS: Final = 3600.0
_SCOPES: Final = ("https://www.googleapis.com/auth/devstorage.read_write",)
_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
#: An HMAC access id goes into ``X-Goog-Credential`` (``ID/DATE/auto/…``): no ``/``.
_ACCESS_ID: Final = re.compile(r"[A-Za-z0-9._@-]{1,128}")
#: An HMAC secret: printable ASCII (GCS's are 40 base64 characters).
_SECRET: Final = re.compile(r"[!-~]{1,256}")
#: The options of a ``type = "gcs"`` storage (``timeout``: the former ``read_timeout``).
OPTIONS: Final = (
    "bucket",
    "project",
    "credentials_file",
    "endpoint_url",
    "anonymous",
    "hmac_access_id",
    "hmac_secret",
    "timeout",
    "connect_timeout",
    "read_timeout",
    "retry_timeout",
)


@attrs.frozen
class GCSSettings:
    """The validated options of one ``gcs`` storage."""

    #: The bucket objects are stored in (required).
    bucket: str
    #: The project (only informative: rindle creates no buckets).
    project: str | None = None
    #: A service-account JSON key; otherwise Application Default Credentials.
    credentials_file: Path | None = None
    #: The API and signing endpoint; else ``STORAGE_EMULATOR_HOST`` or GCS itself.
    endpoint: str = DEFAULT_ENDPOINT
    #: Call the API without credentials (emulators). The key file still signs URLs.
    anonymous: bool = False
    #: Seconds to establish a connection.
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    #: Seconds to wait for the server between bytes of an answer.
    read_timeout: float = DEFAULT_READ_TIMEOUT
    #: Seconds of retries per call for transient failures (0: a single attempt).
    #: A hanging endpoint fails after about ``read_timeout + retry_timeout``.
    retry_timeout: float = DEFAULT_RETRY_TIMEOUT
    #: An HMAC key's access id: URLs and POST policies are then signed with
    #: ``GOOG4-HMAC-SHA256`` (the API still uses the OAuth credentials).
    hmac_access_id: str | None = None
    #: That HMAC key's secret (never in a repr).
    hmac_secret: str | None = attrs.field(default=None, repr=False)

    @property
    def timeouts(self) -> tuple[float, float]:
        """``(connect, read)``, as requests and google-cloud-storage take them."""
        return (self.connect_timeout, self.read_timeout)

    @property
    def timeout(self) -> float:
        """The read timeout (the seed's single ``timeout`` option)."""
        return self.read_timeout

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, object],
        *,
        environ: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> GCSSettings:
        """Validate the options of a ``[storage.NAME]`` table.

        A relative ``credentials_file`` starts at *base_dir* (the
        configuration file's directory; default: the working directory).
        """
        environ = os.environ if environ is None else environ
        if options.get("type", "gcs") != "gcs":
            raise option_error("type", "must be 'gcs'")
        read = Options(options, known=OPTIONS, base_dir=base_dir)

        bucket = read.string("bucket", required=True)
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise read.error("bucket", "must be a GCS bucket name")
        key_path = read.path("credentials_file", kind="file")

        endpoint_url = read.string("endpoint_url")
        emulator_host = environ.get("STORAGE_EMULATOR_HOST", "").strip()
        if endpoint_url is not None:
            endpoint = _endpoint("endpoint_url", endpoint_url.strip())
        elif emulator_host:
            if "://" not in emulator_host:
                emulator_host = f"http://{emulator_host}"
            endpoint = _endpoint("STORAGE_EMULATOR_HOST", emulator_host)
        else:
            endpoint = DEFAULT_ENDPOINT

        if "timeout" in read and "read_timeout" in read:
            raise read.error("timeout", "is the former name of 'read_timeout': give only one")
        read_name = "timeout" if "timeout" in read else "read_timeout"
        project = read.string("project")
        access_id, secret = _hmac_key(read)
        return cls(
            bucket=bucket,
            project=project.strip() if project else None,
            credentials_file=key_path,
            endpoint=endpoint,
            anonymous=read.boolean("anonymous", endpoint != DEFAULT_ENDPOINT),
            hmac_access_id=access_id,
            hmac_secret=secret,
            connect_timeout=read.seconds(
                "connect_timeout", DEFAULT_CONNECT_TIMEOUT, maximum=_MAX_SECONDS
            ),
            read_timeout=read.seconds(read_name, DEFAULT_READ_TIMEOUT, maximum=_MAX_SECONDS),
            retry_timeout=read.seconds(
                "retry_timeout", DEFAULT_RETRY_TIMEOUT, maximum=_MAX_SECONDS, allow_zero=True
            ),
        )


def _hmac_key(read: Options) -> tuple[str | None, str | None]:
    """``(access id, secret)`` of the HMAC key, both or neither; never echoes the secret."""
    access_id = read.get("hmac_access_id")
    secret = read.get("hmac_secret")
    if access_id is None and secret is None:
        return None, None
    if access_id is None:
        raise read.error("hmac_access_id", "is required with 'hmac_secret'")
    if secret is None:
        raise read.error("hmac_secret", "is required with 'hmac_access_id'")
    if not isinstance(access_id, str) or not _ACCESS_ID.fullmatch(access_id):
        raise read.error("hmac_access_id", "must be an HMAC key's access id (letters and digits)")
    if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
        raise read.error("hmac_secret", "must be an HMAC key's secret (printable ASCII)")
    return access_id, secret


def _where(name: str, problem: str) -> ConfigurationError:
    """An option's error, or that of the environment variable standing in for it."""
    if name == "STORAGE_EMULATOR_HOST":
        return ConfigurationError(f"environment variable {name} {problem}")
    return option_error(name, problem)


def _endpoint(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise _where(name, "must be an http(s) URL without a query")
    if parts.username or parts.password:
        raise _where(name, "must not carry credentials")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _load_key(path: Path) -> ServiceAccountCredentials:
    from google.oauth2 import service_account

    try:
        key: ServiceAccountCredentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(path), scopes=list(_SCOPES)
        )
    except (ValueError, KeyError, TypeError, OSError) as exc:
        # Never repeat the parser's message: it may quote the key.
        raise option_error(
            "credentials_file",
            f"must name a service-account key: {str(path)!r} is not one ({type(exc).__name__})",
        ) from None
    return key


def load_credentials(settings: GCSSettings) -> tuple[Credentials, Credentials | None]:
    """``(api_credentials, signing_credentials)`` for *settings*.

    API calls use anonymous credentials in emulator mode, else the key file
    or Application Default Credentials. Signing uses the key file when
    given, else the API credentials (``None`` in anonymous mode).
    """
    from google.auth.credentials import AnonymousCredentials

    key = _load_key(settings.credentials_file) if settings.credentials_file else None
    if settings.anonymous:
        return AnonymousCredentials(), key  # type: ignore[no-untyped-call]
    if key is not None:
        return key, key
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _project = google.auth.default(scopes=list(_SCOPES))
    except DefaultCredentialsError:
        if settings.hmac_access_id is not None:
            raise ConfigurationError(
                "an HMAC key ('hmac_access_id') signs URLs and POST policies only: head, "
                "read, delete and resumable sessions use the JSON API, which needs OAuth "
                "credentials ('credentials_file' or Application Default Credentials), or "
                "'anonymous = true' for an endpoint that needs none"
            ) from None
        raise ConfigurationError(
            "no option 'credentials_file' given and no Application Default Credentials found"
        ) from None
    return credentials, credentials


def hmac_signer(settings: GCSSettings) -> HMACSigner | None:
    """The HMAC key of *settings*, if one is configured."""
    if settings.hmac_access_id is None or settings.hmac_secret is None:
        return None
    return HMACSigner(settings.hmac_access_id, settings.hmac_secret)


def signer_for(
    credentials: Credentials | None, *, timeout: float | tuple[float, float] = (5.0, 20.0)
) -> BlobSigner | None:
    """How *credentials* can sign URLs: locally, through IAM, or not at all.

    *timeout* bounds each IAM ``signBlob`` request.
    """
    if credentials is None:
        return None
    from google.auth.credentials import AnonymousCredentials, Signing

    if isinstance(credentials, AnonymousCredentials):
        return None
    if isinstance(credentials, Signing) and getattr(credentials, "signer_email", None):
        return KeySigner(credentials)
    if getattr(credentials, "service_account_email", None):
        return IAMSigner(credentials, timeout=timeout)
    return None
