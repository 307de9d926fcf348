"""Helpers the contract kits share: unique keys, payloads, secret checks, failures.

Public through :mod:`rindle_core.testing`; the kits import them from here so
that no kit imports :mod:`rindle_core.testing` itself.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import pytest

from .storage import PresignedRequest

__all__ = ["assert_no_secrets", "fail_unless", "payload", "secret_query_values", "unique_key"]


def unique_key(prefix: str = "rindle-contract") -> str:
    """A storage key no other test (or xdist worker) uses."""
    return f"{prefix}/{uuid.uuid4().hex}/object.bin"


def payload(size: int, *, seed: int | None = None) -> bytes:
    """*size* pseudo-random bytes (reproducible when *seed* is given)."""
    return random.Random(seed).randbytes(size)


_CREDENTIAL_LOOKING: Final = (
    re.compile(
        r"(?i)\b(x-amz-signature|x-goog-signature|x-amz-credential|x-amz-security-token"
        r"|signature|sig|accountkey|sharedaccesssignature|client_secret|private_key)"
        r"=[^\s&'\",)\[*<]"  # a value follows: not "[REDACTED]", "***" or "<hidden>"
    ),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)


def secret_query_values(request: PresignedRequest, *, min_length: int = 16) -> list[str]:
    """The query values of *request*'s URL that must never be shown.

    Values at least *min_length* long that are not also public parts of the
    request (its headers, upload id, or path) are treated as secret:
    signatures, credentials and tokens are always long.
    """
    parts = urlsplit(request.url)
    public = {*request.headers.values(), request.upload_id or "", parts.path}
    return [
        value
        for _, value in parse_qsl(parts.query, keep_blank_values=True)
        if len(value) >= min_length and value not in public
    ]


def assert_no_secrets(text: str, secrets: Iterable[str], *, what: str = "text") -> None:
    """Fail if *text* shows any of *secrets* or anything credential-looking."""
    for secret in secrets:
        if secret and secret in text:
            pytest.fail(f"{what} shows a secret value ({len(secret)} characters)", pytrace=False)
    for pattern in _CREDENTIAL_LOOKING:
        match = pattern.search(text)
        if match:
            pytest.fail(f"{what} shows something credential-looking: {match.group(0)[:24]!r}…")


def fail_unless(condition: bool, message: str) -> None:
    """Fail the test with *message* (no traceback into the kit) unless *condition*."""
    if not condition:
        pytest.fail(message, pytrace=False)
