"""V4 POST policies (``GOOG4-RSA-SHA256``): the form google-cloud-storage signs.

For the same clock, service account, bucket, key, fields and conditions, the
policy and its signature are byte-for-byte those of
``Client.generate_signed_post_policy_v4`` (the tests check identity): the
conditions are the size range, the content type, the bucket, the exact key
and the signing fields. GCS's form POST takes no precondition (its fields
have no ``x-goog-if-generation-match``) and replaces an existing object, so
the policy is not create-only (ADR 0103).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Final

from rindle_core import PresignedPost

from ._signing import V4Signer

__all__ = ["sign_post_policy"]

_ALGORITHM: Final = "GOOG4-RSA-SHA256"


def sign_post_policy(
    signer: V4Signer,
    *,
    bucket: str,
    key: str,
    content_type: str,
    min_size: int,
    max_size: int,
    expires_in: int,
    now: dt.datetime,
) -> PresignedPost:
    """A form POST to *bucket* binding *key*, *content_type* and ``min_size..max_size`` bytes."""
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    timestamp = now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{signer.email}/{timestamp[:8]}/auto/storage/goog4_request"
    expires_at = now + dt.timedelta(seconds=expires_in)
    conditions: list[object] = [
        ["content-length-range", min_size, max_size],
        {"Content-Type": content_type},
        {"bucket": bucket},
        {"key": key},
        {"x-goog-date": timestamp},
        {"x-goog-credential": credential},
        {"x-goog-algorithm": _ALGORITHM},
    ]
    expiration = expires_at.replace(tzinfo=None).isoformat() + "Z"
    document = json.dumps(
        {"conditions": conditions, "expiration": expiration}, separators=(",", ":")
    )
    policy = base64.b64encode(document.encode("utf-8"))
    fields = {
        "Content-Type": content_type,
        "key": key,
        "x-goog-algorithm": _ALGORITHM,
        "x-goog-credential": credential,
        "x-goog-date": timestamp,
        "x-goog-signature": signer.sign_bytes(policy).hex(),
        "policy": policy.decode("ascii"),
    }
    return PresignedPost(
        url=f"{signer.endpoint}/{bucket}/", fields=fields, expires_at=expires_at, create_only=False
    )
