"""V4 POST policies: the form google-cloud-storage signs.

For the same clock, signer, bucket, key, fields and conditions, the policy
and its signature are byte-for-byte those of
``Client.generate_signed_post_policy_v4`` (the tests check identity, and
Google's V4 POST policy conformance vectors). An HMAC key signs the same
document with ``GOOG4-HMAC-SHA256``, which the SDK cannot.

rindle's policy (:func:`sign_post_policy`) binds the size range, the
content type, the bucket, the exact key and the signing fields. GCS's form
POST takes no precondition (its fields have no
``x-goog-if-generation-match``) and replaces an existing object, so the
policy is not create-only (ADR 0103).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping, Sequence

from rindle_core import PresignedPost

from ._signing import V4Signer

__all__ = ["build_post_policy", "sign_post_policy"]


def build_post_policy(
    signer: V4Signer,
    *,
    bucket: str,
    key: str,
    fields: Mapping[str, str],
    conditions: Sequence[object],
    expires_in: int,
    now: dt.datetime,
) -> PresignedPost:
    """A signed form POST to *bucket* for *key*, as the SDK builds one.

    The document's conditions are *conditions*, then one exact match per
    field (sorted by name; ``x-ignore-*`` fields are neither bound nor
    returned), then the bucket, the key and the signing fields.
    """
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    timestamp = now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{signer.email}/{timestamp[:8]}/auto/storage/goog4_request"
    expires_at = now + dt.timedelta(seconds=expires_in)
    bound = {
        name: value for name, value in sorted(fields.items()) if not name.startswith("x-ignore-")
    }
    document_conditions: list[object] = [
        *conditions,
        *({name: value} for name, value in bound.items()),
        {"bucket": bucket},
        {"key": key},
        {"x-goog-date": timestamp},
        {"x-goog-credential": credential},
        {"x-goog-algorithm": signer.algorithm},
    ]
    expiration = expires_at.replace(tzinfo=None).isoformat() + "Z"
    document = json.dumps(
        {"conditions": document_conditions, "expiration": expiration}, separators=(",", ":")
    )
    policy = base64.b64encode(document.encode("utf-8"))
    form = {
        **bound,
        "key": key,
        "x-goog-algorithm": signer.algorithm,
        "x-goog-credential": credential,
        "x-goog-date": timestamp,
        "x-goog-signature": signer.sign(policy, timestamp[:8]),
        "policy": policy.decode("ascii"),
    }
    return PresignedPost(
        url=f"{signer.endpoint}/{bucket}/", fields=form, expires_at=expires_at, create_only=False
    )


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
    return build_post_policy(
        signer,
        bucket=bucket,
        key=key,
        fields={"Content-Type": content_type},
        conditions=[["content-length-range", min_size, max_size]],
        expires_in=expires_in,
        now=now,
    )
