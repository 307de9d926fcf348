"""One request, tried again on transient failures, signed again when refused."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from .._errors import TransferFailed
from .._redaction import redact_url
from ..storage import PresignedRequest
from ._http import Body, Progress, Reply, SendError, Transport
from ._retry import Outcome, RetryPolicy, classify, error_code, expiring

__all__ = ["failure", "send"]

Resign = Callable[[], PresignedRequest]


def send(
    transport: Transport,
    request: PresignedRequest,
    body: Body,
    *,
    headers: Mapping[str, str] | None = None,
    expect: tuple[int, ...] = (200, 201, 204),
    policy: RetryPolicy,
    resign: Resign | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Reply:
    """Send *body* as *request* describes; return the expected answer.

    Transient failures (connection errors, 408, 429, 5xx) are retried with
    backoff; a refused or expiring URL is signed again with *resign* (when
    given). On a create-only target, a 412 after an attempt whose answer was
    lost means that attempt stored the object: the answer is returned, and
    the broker's verification decides. Raises :class:`TransferFailed`.
    """
    attempt = resigned = 0
    ambiguous = False
    while True:
        if resign is not None and resigned < policy.resigns and expiring(request.expires_at):
            request, resigned = resign(), resigned + 1
        attempt += 1
        counted = _Counter(progress)
        sent_headers = {**request.headers, **(headers or {})}
        try:
            reply = transport.request(
                request.method, request.url, sent_headers, body, progress=counted
            )
        except SendError as exc:
            counted.undo()
            ambiguous = ambiguous or exc.sent
            if attempt >= policy.attempts:
                raise TransferFailed(
                    f"{request.method} {redact_url(request.url)} failed: {exc}", retryable=True
                ) from None
            sleep(policy.backoff(attempt))
            continue
        outcome = classify(reply, expect)
        if outcome is Outcome.DONE:
            return reply
        counted.undo()
        if ambiguous and reply.status_code == 412:
            return reply
        if outcome is Outcome.RETRY and attempt < policy.attempts:
            ambiguous = True
            sleep(policy.backoff(attempt))
            continue
        if outcome is Outcome.RESIGN and resign is not None and resigned < policy.resigns:
            request, resigned = resign(), resigned + 1
            continue
        raise failure(request.method, request.url, reply)


def failure(method: str, url: str, reply: Reply) -> TransferFailed:
    """The error for a final answer (the URL without its query)."""
    code = error_code(reply)
    status = reply.status_code
    return TransferFailed(
        f"{method} {redact_url(url)} returned HTTP {status}" + (f" ({code})" if code else ""),
        status=status,
        retryable=status >= 500 or status in (408, 429),
    )


class _Counter:
    """Reports progress and remembers it, to take it back if the attempt fails."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self.sent = 0

    def __call__(self, count: int) -> None:
        self.sent += count
        if self._progress is not None:
            self._progress(count)

    def undo(self) -> None:
        if self._progress is not None and self.sent:
            self._progress(-self.sent)
        self.sent = 0
