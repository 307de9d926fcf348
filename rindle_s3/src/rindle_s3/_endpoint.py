"""Where a bucket's objects live, as botocore resolves it (once per adapter).

S3's endpoint rules (addressing style, the legacy global endpoint, DNS-safe
bucket names, FIPS, dual-stack, custom endpoints with a path) belong to
botocore's endpoint ruleset. Rather than re-implement them, the adapter asks
botocore once, by presigning a probe URL, and keeps the result: every object
URL is then ``base_url + encoded key`` and is signed by the fast presigner
with the region and service botocore chose. One plain configuration, path
style on an explicit endpoint and region, is answered without botocore
(``_fast_start``); the tests check that its answers are these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, urlsplit

import attrs

from rindle_core import ConfigurationError

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

__all__ = ["BucketEndpoint", "resolve_bucket_endpoint"]

_PROBE_KEY: Final = "rindle-endpoint-probe"


@attrs.frozen
class BucketEndpoint:
    """How to address and sign requests for one bucket's objects."""

    #: Prefix of every object URL, ending in ``/`` (``https://b.s3.amazonaws.com/``).
    base_url: str
    #: The region SigV4 signatures are scoped to.
    signing_region: str
    #: The service name SigV4 signatures are scoped to (``s3``).
    signing_service: str


def resolve_bucket_endpoint(
    session: boto3.Session,
    bucket: str,
    *,
    region: str,
    endpoint_url: str | None,
    config: Config,
) -> BucketEndpoint:
    """Ask botocore where *bucket*'s objects live, for a client built like this.

    *region*, *endpoint_url* and *config* are what the adapter's client
    uses. No network I/O: presigning is local, and done with throwaway
    credentials so nothing real is signed.
    Raises :class:`~rindle_core.ConfigurationError` when botocore would not
    sign object requests with plain SigV4 (directory buckets, multi-region
    access points).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = session.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            config=config,
            aws_access_key_id="RINDLEPROBE",
            aws_secret_access_key="rindle-probe",  # noqa: S106 - a placeholder, not a secret
        )
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": _PROBE_KEY}, ExpiresIn=60
        )
    except (BotoCoreError, ClientError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot address bucket {bucket!r}: {type(exc).__name__}"
        ) from None
    base, _, query = url.partition("?")
    params = parse_qs(query)
    algorithm = params.get("X-Amz-Algorithm", [""])[0]
    credential = params.get("X-Amz-Credential", [""])[0].split("/")
    if (
        not base.endswith("/" + _PROBE_KEY)
        or algorithm != "AWS4-HMAC-SHA256"
        or len(credential) != 5
    ):
        raise ConfigurationError(
            f"bucket {bucket!r} is not addressable with SigV4 query signing "
            "(directory buckets and multi-region access points are not supported)"
        )
    base_url = base[: -len(_PROBE_KEY)]
    if not urlsplit(base_url).hostname:
        raise ConfigurationError(f"cannot address bucket {bucket!r}: no host in endpoint")
    return BucketEndpoint(
        base_url=base_url, signing_region=credential[2], signing_service=credential[3]
    )
