"""Parallel parts: signed lazily, sent by worker threads, retried and re-signed one by one.

The calling thread schedules; workers only send. The caller signs URLs in
batches just before their parts are sent (so none expires waiting). Where the
upload binds part checksums it computes each part's checksum first, and does
so for the next batch while the current one is in flight (the workers' sends
release the GIL meanwhile). It keeps at most ``concurrency`` parts in flight,
schedules a failed part again after a jittered backoff, signs a refused or
expired part's URL again, and on a fatal error or an interrupt
(``KeyboardInterrupt`` reaches the calling thread at once: it only ever waits
on futures) aborts the transport — every socket in flight is shut down — and
raises without waiting for the rest.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait

import attrs

from .._checksums import PartChecksum, file_checksum
from .._errors import TransferFailed
from .._redaction import redact_url
from ..storage import PresignedRequest, UploadedPart
from ._http import FileSlice, Progress, Reply, SendError, Transport
from ._retry import Outcome, RetryPolicy, classify, expiring
from ._single import failure

__all__ = ["Part", "SignChecksummedParts", "SignParts", "upload_parts"]

#: Called with the part numbers to sign; returns one request per number.
SignParts = Callable[[Sequence[int]], Sequence[PresignedRequest]]
#: Called with the part numbers to sign and their checksums (base64, in the
#: same order); returns one request per number, each binding its checksum.
SignChecksummedParts = Callable[[Sequence[int], Sequence[str]], Sequence[PresignedRequest]]

#: Seconds the scheduler waits for workers to notice a cancellation.
_DRAIN_TIMEOUT = 10.0
#: Longest wait on the workers before the scheduler looks at signals again.
_POLL = 0.25


@attrs.frozen
class Part:
    """One part of the file: its number, where it starts, how long it is."""

    number: int
    offset: int
    length: int


@attrs.frozen
class _Result:
    part: Part
    reply: Reply | None = None
    error: SendError | None = None
    sent: int = 0


def upload_parts(
    transport: Transport,
    executor: Executor,
    fd: int,
    parts: Sequence[Part],
    *,
    sign: SignChecksummedParts,
    concurrency: int,
    sign_batch: int,
    policy: RetryPolicy,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    checksum_algorithm: str | None = None,
) -> list[UploadedPart]:
    """Upload *parts* of the open file *fd*; return them in part-number order.

    With *checksum_algorithm*, *sign* gets each part's checksum and the parts
    returned carry them; without, it gets an empty list.
    """
    queue: deque[Part] = deque(parts)
    signed: dict[int, PresignedRequest] = {}
    checksums: dict[int, PartChecksum] = {}
    if checksum_algorithm is not None:
        # Checksums are computed just before a batch is signed: keep batches
        # to what is about to be sent, so the first part leaves early.
        sign_batch = min(sign_batch, concurrency)
    delayed: list[tuple[float, int, Part]] = []
    tiebreak = itertools.count()
    attempts: dict[int, int] = {}
    resigns: dict[int, int] = {}
    in_flight: dict[Future[_Result], Part] = {}
    done: dict[int, UploadedPart] = {}

    def sign_ahead(first: Part) -> None:
        """Sign *first* and the next queued parts without a fresh URL, one batch."""
        wanted = [first]
        for part in queue:
            if len(wanted) >= sign_batch:
                break
            current = signed.get(part.number)
            if part is not first and (current is None or expiring(current.expires_at)):
                wanted.append(part)
        values: list[str] = []
        if checksum_algorithm is not None:
            for part in wanted:
                if part.number not in checksums:
                    checksums[part.number] = file_checksum(
                        checksum_algorithm, fd, part.offset, part.length
                    )
                values.append(checksums[part.number].value)
        numbers = [part.number for part in wanted]
        requests = sign(numbers, values)
        if len(requests) != len(wanted):
            raise TransferFailed("the signer returned the wrong number of part requests")
        signed.update(zip(numbers, requests, strict=True))

    def needs_url(part: Part) -> bool:
        request = signed.get(part.number)
        return request is None or expiring(request.expires_at)

    try:
        while queue or delayed or in_flight:
            now = clock()
            while delayed and delayed[0][0] <= now:
                queue.append(heapq.heappop(delayed)[2])
            while queue and len(in_flight) < concurrency:
                part = queue.popleft()
                if needs_url(part):
                    sign_ahead(part)
                future = executor.submit(_send, transport, fd, signed[part.number], part, progress)
                in_flight[future] = part
            if checksum_algorithm is not None and queue and in_flight and needs_url(queue[0]):
                sign_ahead(queue[0])  # checksum the next batch while this one is sent
            # Wake up now and then: a signal that reached another thread is
            # handled only when this one runs Python code.
            timeout = min(_POLL, max(0.0, delayed[0][0] - clock())) if delayed else _POLL
            finished, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in finished:
                part = in_flight.pop(future)
                result = future.result()
                request = signed[part.number]
                if result.reply is not None:
                    outcome = classify(result.reply, (200, 201))
                else:
                    outcome = Outcome.RETRY
                if outcome is Outcome.DONE:
                    assert result.reply is not None
                    etag = result.reply.headers.get("ETag")
                    checksum = checksums.get(part.number)
                    done[part.number] = UploadedPart(part.number, etag, part.length, checksum)
                    signed.pop(part.number, None)
                    continue
                if progress is not None and result.sent:
                    progress(-result.sent)  # the part is sent again from its start
                tries = attempts[part.number] = attempts.get(part.number, 1) + 1
                if outcome is Outcome.RESIGN:
                    count = resigns[part.number] = resigns.get(part.number, 0) + 1
                    if count <= policy.resigns:
                        signed.pop(part.number, None)
                        queue.appendleft(part)
                        continue
                elif outcome is Outcome.RETRY and tries <= policy.attempts:
                    ready = clock() + policy.backoff(tries - 1)
                    heapq.heappush(delayed, (ready, next(tiebreak), part))
                    continue
                if result.reply is None:
                    raise TransferFailed(
                        f"{request.method} {redact_url(request.url)} failed: {result.error}",
                        retryable=True,
                    )
                raise failure(request.method, request.url, result.reply)
    except BaseException:
        # Fatal error or interrupt: stop the parts in flight now, start no other.
        transport.abort()
        for future in in_flight:
            future.cancel()
        if in_flight:
            wait(in_flight, timeout=_DRAIN_TIMEOUT)
        raise
    return [done[number] for number in sorted(done)]


def _send(
    transport: Transport,
    fd: int,
    request: PresignedRequest,
    part: Part,
    progress: Progress | None,
) -> _Result:
    """In a worker: send one part, report what happened (never raises but Cancelled)."""
    sent = 0

    def counted(count: int) -> None:
        nonlocal sent
        sent += count
        if progress is not None:
            progress(count)

    headers = {**request.headers, "Content-Length": str(part.length)}
    body = (FileSlice(fd, part.offset, part.length),)
    try:
        reply = transport.request(request.method, request.url, headers, body, progress=counted)
    except SendError as exc:
        return _Result(part, error=exc, sent=sent)
    return _Result(part, reply=reply, sent=sent)
