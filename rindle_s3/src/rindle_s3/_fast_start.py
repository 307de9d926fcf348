"""Start an adapter without botocore, in the one configuration whose answers rindle knows.

Building an :class:`~rindle_s3.S3Storage` needs two answers: the credentials,
and where the bucket's objects live (:func:`~rindle_s3.resolve_bucket_endpoint`
asks botocore by presigning a probe URL). Loading botocore for them costs
about half a second. In one common configuration both are known without it:

* path-style addressing on an explicit ``endpoint_url`` and ``region``:
  botocore's S3 endpoint ruleset puts the objects at the endpoint's scheme,
  authority and path, then ``/bucket/``, signed for the region and service
  ``s3``;
* credentials given explicitly, or else ``AWS_ACCESS_KEY_ID`` and
  ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``): the first provider
  of botocore's chain when no profile is passed (``AWS_PROFILE`` leaves it
  first too, but selects settings, so it sends the adapter to botocore).

Only plain values take this start: a lowercase host name or IPv4 address,
a path of plain segments, a region botocore keeps as given, a DNS-style
bucket name; no ``AWS_*`` or ``BOTO*`` variable but a few inert ones, no
blank CA bundle (botocore refuses one); shared config and credentials files
absent or holding only credentials, ``region`` and ``output``. Anything
else, or any doubt, goes to botocore as before. The tests compare both
starts' answers (ADR 0119).
"""

from __future__ import annotations

import os
import re
from typing import Final, NamedTuple

from ._endpoint import BucketEndpoint
from ._signer import StaticCredentials

__all__ = ["FastStart", "fast_start", "path_style_endpoint"]

_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
#: ``scheme://host[:port][/plain/path][/]``; segments start with no dot
#: (botocore would remove ``.`` and ``..``) and need no percent-encoding.
_PLAIN_ENDPOINT: Final = re.compile(
    rf"(?P<origin>https?://(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[1-9][0-9]{{0,4}}))?)"
    r"(?P<path>(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*)/?"
)
#: A region botocore takes as given: a host label, not all digits, no FIPS
#: pseudo-region (botocore rewrites ``fips-*``/``*-fips``).
_PLAIN_REGION: Final = re.compile(rf"(?![0-9]+\Z)(?!.*fips){_LABEL}")
#: Dot-separated host labels; no ``--`` (S3 gives suffixes such as
#: ``--x-s3`` and ``--op-s3`` other meanings).
_PLAIN_BUCKET: Final = re.compile(rf"(?!.*--){_LABEL}(?:\.{_LABEL})*")
#: botocore signs for us-east-1 when asked for this region.
_GLOBAL_REGION: Final = "aws-global"

#: The prefixes of the variables botocore reads (``AWS_DATA_PATH`` can even
#: replace the S3 model, ``BOTOCORE_EXPERIMENTAL__PLUGINS`` load plugins).
_SDK_VARIABLES: Final = ("AWS_", "BOTO")
#: Those that cannot change the answers here: the credentials read below,
#: the shared files checked below, a region the explicit one overrides, and
#: settings of the connection, not of the URL.
_INERT_VARIABLES: Final = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CA_BUNDLE",
        "AWS_EC2_METADATA_DISABLED",
    }
)
#: CA bundle variables: botocore refuses to build a client when one is blank.
_CA_BUNDLES: Final = ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE")
#: The shared files botocore reads (variable, default path).
_SHARED_FILES: Final = (
    ("AWS_CONFIG_FILE", "~/.aws/config"),
    ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
)
#: Settings of those files that cannot change the answers here.
_INERT_SETTINGS: Final = frozenset(
    {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region", "output"}
)


class FastStart(NamedTuple):
    """botocore's answers, known without it."""

    region: str
    endpoint: BucketEndpoint
    credentials: StaticCredentials


def fast_start(
    bucket: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    addressing_style: str,
    profile: str | None,
    aws_access_key_id: str | None,
    aws_secret_access_key: str | None,
    aws_session_token: str | None,
) -> FastStart | None:
    """The endpoint and credentials botocore would give, or None to ask botocore.

    For an adapter built without a ``session``; the arguments are the
    adapter's, already checked.
    """
    if profile is not None or addressing_style != "path" or region is None or endpoint_url is None:
        return None
    endpoint = path_style_endpoint(bucket, region=region, endpoint_url=endpoint_url)
    if endpoint is None or not _inert_environment():
        return None
    credentials = _static_credentials(aws_access_key_id, aws_secret_access_key, aws_session_token)
    if credentials is None:
        return None
    return FastStart(region, endpoint, credentials)


def path_style_endpoint(bucket: str, *, region: str, endpoint_url: str) -> BucketEndpoint | None:
    """Where path-style *bucket* lives on *endpoint_url*, as botocore resolves it.

    None unless every value is plain (then botocore is asked instead).
    """
    match = _PLAIN_ENDPOINT.fullmatch(endpoint_url)
    if (
        match is None
        or len(match["host"]) > 253
        or int(match["port"] or 1) > 65535
        or _PLAIN_REGION.fullmatch(region) is None
        or region == _GLOBAL_REGION
        or not 3 <= len(bucket) <= 63
        or _PLAIN_BUCKET.fullmatch(bucket) is None
    ):
        return None
    return BucketEndpoint(
        base_url=f"{match['origin']}{match['path']}/{bucket}/",
        signing_region=region,
        signing_service="s3",
    )


def _static_credentials(
    access_key: str | None, secret_key: str | None, token: str | None
) -> StaticCredentials | None:
    """The explicit credentials, else the environment's: botocore's first choice."""
    if access_key is not None and secret_key is not None:
        return StaticCredentials(access_key, secret_key, token)
    if access_key is not None or secret_key is not None or token is not None:
        return None  # botocore decides what partial credentials mean
    access_key = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not access_key or not secret_key:
        return None
    return StaticCredentials(access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN") or None)


def _inert_environment() -> bool:
    """Whether no variable or shared file could change botocore's answers or refuse them."""
    environ = os.environ
    if any(name.startswith(_SDK_VARIABLES) and name not in _INERT_VARIABLES for name in environ):
        return False
    if any(not environ[name].strip() for name in _CA_BUNDLES if name in environ):
        return False
    for variable, default in _SHARED_FILES:
        path = os.path.expanduser(os.path.expandvars(environ.get(variable, default)))
        if os.path.isfile(path) and not _holds_inert_settings(path):
            return False
    return True


def _holds_inert_settings(path: str) -> bool:
    """Whether the shared file at *path* parses as botocore parses it, with inert settings only."""
    import configparser

    parser = configparser.RawConfigParser()
    try:
        if parser.read([path]) != [path]:
            return False
    except (configparser.Error, UnicodeError, OSError):
        return False
    return all(set(parser[section]) <= _INERT_SETTINGS for section in parser.sections())
