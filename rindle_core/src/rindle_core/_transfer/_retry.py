"""When a request is tried again, and how long to wait first.

Exponential backoff with full jitter (a random wait between zero and
``base * 2**(attempt - 1)``, capped), a bounded number of attempts, and a
bounded number of re-signatures for a URL that expired or was refused.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from enum import Enum
from typing import Final

import attrs

from ._http import Reply

__all__ = ["Outcome", "RetryPolicy", "classify", "error_code", "expiring"]

#: A signed URL this close to its expiry is signed again before it is used.
_EXPIRY_MARGIN: Final = dt.timedelta(seconds=15)
#: Error codes (S3, GCS, Azure XML bodies) that say the signature is stale or refused.
_RESIGN_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AuthenticationFailed",
        "ExpiredToken",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)
_CODE: Final = re.compile(r"<Code>([A-Za-z0-9]{1,64})</Code>")


class Outcome(Enum):
    """What to do after an answer."""

    DONE = "done"
    RETRY = "retry"  # a transient failure: the same request again, after a backoff
    RESIGN = "resign"  # the URL expired or was refused: sign it again, then send
    FAIL = "fail"


@attrs.frozen
class RetryPolicy:
    """Attempts per request and the backoff between them.

    ``attempts`` counts the first try; ``resigns`` bounds how often one
    request's URL is signed again after a refusal (403, 401, an expiry).
    """

    attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    base: float = attrs.field(default=0.25, validator=attrs.validators.ge(0))
    cap: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    resigns: int = attrs.field(default=2, validator=attrs.validators.ge(0))

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before try ``attempt + 1`` (full jitter)."""
        return random.uniform(0, min(self.cap, self.base * 2 ** max(0, attempt - 1)))


def classify(reply: Reply, expect: tuple[int, ...]) -> Outcome:
    """An answer's outcome: expected, transient, stale signature, or final."""
    status = reply.status_code
    if status in expect:
        return Outcome.DONE
    if status in (408, 429) or status >= 500:
        return Outcome.RETRY
    if status in (401, 403) or (status == 400 and error_code(reply) in _RESIGN_CODES):
        return Outcome.RESIGN
    return Outcome.FAIL


def error_code(reply: Reply) -> str:
    """The ``<Code>`` of an XML error body (S3, GCS XML API, Azure), else ``""``."""
    match = _CODE.search(reply.text)
    return match.group(1) if match else ""


def expiring(expires_at: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    """Whether a URL expiring at *expires_at* should be signed again before use."""
    if expires_at is None:
        return False
    now = now or dt.datetime.now(dt.UTC)
    return expires_at - now < _EXPIRY_MARGIN
