"""SigV4 POST policies: the form fields botocore's ``generate_presigned_post`` makes.

For the same clock, credentials, bucket, key and conditions the policy and its
signature are byte-for-byte botocore's (the tests check identity): the
conditions are the content type, the size range, the bucket, the exact key
and the signing fields, and the policy expires *expires_in* seconds after
*now*. S3's POST has no create-only condition (``If-None-Match`` applies to
PutObject and CompleteMultipartUpload only): a policy can replace the object
until it expires (ADR 0103).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
from typing import Final, final
from urllib.parse import urlsplit

from rindle_core import PresignedPost

from ._signer import CredentialSource, FrozenCredentials

__all__ = ["SigV4PostSigner", "post_url"]

_ALGORITHM: Final = "AWS4-HMAC-SHA256"


def post_url(base_url: str) -> str:
    """The URL a form POSTs to, from the bucket's object-URL prefix (ending in ``/``).

    As botocore gives it: the bucket's host root (virtual-hosted style), or
    the bucket's path without the trailing slash (path style).
    """
    return base_url if urlsplit(base_url).path == "/" else base_url.rstrip("/")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode("utf-8"), "sha256")


@final
class SigV4PostSigner:
    """Signs S3 POST policies with SigV4 for one bucket's region and service.

    ``credentials`` is fixed credentials or a zero-argument callable
    returning a fresh snapshot (called once per policy).
    """

    __slots__ = ("_credentials", "_region", "_service")

    def __init__(
        self, credentials: FrozenCredentials | CredentialSource, *, region: str, service: str
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service

    def __repr__(self) -> str:
        return f"SigV4PostSigner(region={self._region!r}, service={self._service!r})"

    def sign(
        self,
        url: str,
        *,
        bucket: str,
        key: str,
        content_type: str,
        min_size: int,
        max_size: int,
        expires_in: int,
        now: dt.datetime,
    ) -> PresignedPost:
        """A form binding *key*, *content_type* and ``min_size..max_size`` bytes."""
        source = self._credentials
        creds = source() if callable(source) else source
        now = now.astimezone(dt.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        datestamp = amz_date[:8]
        credential = f"{creds.access_key}/{datestamp}/{self._region}/{self._service}/aws4_request"
        expires_at = (now + dt.timedelta(seconds=expires_in)).replace(microsecond=0)
        signing: dict[str, str] = {
            "x-amz-algorithm": _ALGORITHM,
            "x-amz-credential": credential,
            "x-amz-date": amz_date,
        }
        if creds.token is not None:
            signing["x-amz-security-token"] = creds.token
        conditions: list[object] = [
            {"Content-Type": content_type},
            ["content-length-range", min_size, max_size],
            {"bucket": bucket},
            {"key": key},
            *({name: value} for name, value in signing.items()),
        ]
        expiration = expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        document = {"expiration": expiration, "conditions": conditions}
        policy = base64.b64encode(json.dumps(document).encode("utf-8")).decode("ascii")
        signing_key = _hmac(f"AWS4{creds.secret_key}".encode(), datestamp)
        for part in (self._region, self._service, "aws4_request"):
            signing_key = _hmac(signing_key, part)
        fields = {
            "Content-Type": content_type,
            "key": key,
            **signing,
            "policy": policy,
            "x-amz-signature": _hmac(signing_key, policy).hex(),
        }
        return PresignedPost(url=url, fields=fields, expires_at=expires_at, create_only=False)
