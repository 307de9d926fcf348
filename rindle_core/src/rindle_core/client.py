"""The upload client: sends bytes the way a browser would.

Driven only by what the broker hands out: a presigned PUT, a presigned form
POST (an HTML form under a signed policy), presigned parts (S3 multipart,
Azure blocks) uploaded in parallel, or a GCS-style resumable session URI
written in chunks with status polls. The CLI, every plugin's
tests and server-side uploaders share it. Files are streamed from disk in
small chunks, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path
from typing import Final

import httpx

from ._decisions import content_range_parts
from ._errors import TransferFailed
from ._redaction import redact_url
from .storage import PresignedPost, PresignedRequest, UploadedPart

__all__ = ["SignParts", "UploadClient"]

_CHUNK: Final = 256 * 1024
_RANGE: Final = re.compile(r"bytes=0-([0-9]+)")

#: Called with the part numbers to sign; returns one request per number.
SignParts = Callable[[Sequence[int]], Sequence[PresignedRequest]]
Progress = Callable[[int], None]

#: Set while UploadClient sends a request, so the filter below knows the URL is signed.
_SENDING: ContextVar[bool] = ContextVar("rindle_upload_client_sending", default=False)


class _RedactSignedUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; hide the query (the
    signature, SAS token or session id) of the requests UploadClient sends."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SENDING.get() and isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactSignedUrls())


def _file_slice(path: Path, offset: int, length: int, progress: Progress | None) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(offset)
        remaining = length
        while remaining > 0:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                raise TransferFailed(f"{path.name} shrank while it was being uploaded")
            remaining -= len(chunk)
            if progress is not None:
                progress(len(chunk))
            yield chunk


class UploadClient:
    """Upload files to presigned requests over plain HTTP.

    ``progress`` is called with the number of bytes just sent (from worker
    threads when parts go in parallel).
    """

    def __init__(
        self,
        *,
        timeout: float = 120.0,
        progress: Progress | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self._http = http or httpx.Client(timeout=timeout, follow_redirects=False)
        self._owns_http = http is None
        self._progress = progress

    def close(self) -> None:
        """Close the underlying connection pool."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> UploadClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- single PUT -------------------------------------------------------------

    def put(
        self,
        request: PresignedRequest,
        path: Path | str,
        *,
        offset: int = 0,
        length: int | None = None,
    ) -> httpx.Response:
        """Send ``length`` bytes of *path* from *offset* as *request* describes."""
        path = Path(path)
        if length is None:
            length = path.stat().st_size - offset
        headers = dict(request.headers)
        headers["Content-Length"] = str(length)
        return self._send(
            request.method,
            request.url,
            headers=headers,
            content=_file_slice(path, offset, length, self._progress),
        )

    def put_bytes(self, request: PresignedRequest, data: bytes) -> httpx.Response:
        """Send *data* as *request* describes (small payloads, tests)."""
        headers = dict(request.headers)
        headers["Content-Length"] = str(len(data))
        response = self._send(request.method, request.url, headers=headers, content=data)
        if self._progress is not None:
            self._progress(len(data))
        return response

    # -- form POST (S3 and GCS POST policies, the local receiver) ---------------

    def post_form(self, post: PresignedPost, path: Path | str) -> httpx.Response:
        """Send *path* as the form *post* describes: every field in order, the file
        last (field ``file``, typed as the form binds), as ``multipart/form-data``."""
        path = Path(path)
        size = path.stat().st_size
        file_type = next(
            (v for k, v in post.fields.items() if k.lower() == "content-type"),
            "application/octet-stream",
        )
        boundary = f"rindle-{secrets.token_hex(16)}"
        head, tail = _form_frame(post.fields, path.name, file_type, boundary)
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }
        body = itertools.chain((head,), _file_slice(path, 0, size, self._progress), (tail,))
        return self._send("POST", post.url, headers=headers, content=body)

    # -- parts (S3 multipart, Azure blocks) -------------------------------------

    def upload_parts(
        self,
        path: Path | str,
        *,
        part_size: int,
        sign: SignParts,
        concurrency: int = 4,
        skip: Collection[int] = (),
        sign_batch: int = 100,
    ) -> list[UploadedPart]:
        """Upload every part of *path* not in *skip*; return them in order.

        Parts are signed lazily in batches of ``sign_batch`` (so no URL
        expires before its part is sent) and uploaded by ``concurrency``
        threads, in whatever order they finish.
        """
        path = Path(path)
        size = path.stat().st_size
        plan = [p for p in content_range_parts(size, part_size) if p[0] not in skip]
        results: list[UploadedPart] = []
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            for start in range(0, len(plan), sign_batch):
                batch = plan[start : start + sign_batch]
                requests = sign([number for number, _, _ in batch])
                if len(requests) != len(batch):
                    raise TransferFailed("the signer returned the wrong number of part requests")
                futures = [
                    pool.submit(self._upload_part, path, req, number, offset, length)
                    for req, (number, offset, length) in zip(requests, batch, strict=True)
                ]
                results.extend(f.result() for f in futures)
        return sorted(results, key=lambda part: part.part_number)

    def _upload_part(
        self, path: Path, request: PresignedRequest, number: int, offset: int, length: int
    ) -> UploadedPart:
        response = self.put(request, path, offset=offset, length=length)
        etag = response.headers.get("ETag")
        return UploadedPart(part_number=number, etag=etag, size=length)

    # -- resumable sessions (GCS protocol) -------------------------------------

    def resumable_offset(self, session_uri: str, size: int) -> int | None:
        """Ask a resumable session how many bytes it holds.

        Returns the committed byte count, or ``None`` when the upload is
        already complete.
        """
        response = self._send(
            "PUT",
            session_uri,
            headers={"Content-Range": f"bytes */{size}", "Content-Length": "0"},
            content=b"",
            expect=(200, 201, 308),
        )
        if response.status_code in (200, 201):
            return None
        return _committed(response)

    def upload_resumable(
        self,
        session_uri: str,
        path: Path | str,
        *,
        chunk_size: int = 8 * 1024 * 1024,
        resume: bool = False,
    ) -> None:
        """Write *path* to a resumable session in chunks.

        ``chunk_size`` must be a multiple of 256 KiB (GCS's rule) except for
        the last chunk. With ``resume=True`` the session is asked first how
        much it already holds, and only the rest is sent.
        """
        path = Path(path)
        size = path.stat().st_size
        if chunk_size % (256 * 1024):
            raise ValueError("chunk_size must be a multiple of 256 KiB")
        offset = 0
        if resume:
            committed = self.resumable_offset(session_uri, size)
            if committed is None:
                return
            offset = committed
        if size == 0:
            self._send(
                "PUT",
                session_uri,
                headers={"Content-Range": "bytes */0", "Content-Length": "0"},
                content=b"",
                expect=(200, 201),
            )
            return
        while offset < size:
            length = min(chunk_size, size - offset)
            last = offset + length - 1
            response = self._send(
                "PUT",
                session_uri,
                headers={
                    "Content-Range": f"bytes {offset}-{last}/{size}",
                    "Content-Length": str(length),
                },
                content=_file_slice(path, offset, length, self._progress),
                expect=(200, 201, 308),
            )
            if response.status_code in (200, 201):
                return
            committed = _committed(response)
            if committed <= offset:
                raise TransferFailed("the resumable session did not accept the chunk", status=308)
            offset = committed

    # -- plumbing ---------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        content: bytes | Iterator[bytes],
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> httpx.Response:
        token = _SENDING.set(True)
        try:
            response = self._http.request(method, url, headers=headers, content=content)
        except httpx.TransportError as exc:
            raise TransferFailed(
                f"{method} {redact_url(url)} failed: {type(exc).__name__}", retryable=True
            ) from None
        finally:
            _SENDING.reset(token)
        if response.status_code not in expect:
            code = _error_code(response.text)
            raise TransferFailed(
                f"{method} {redact_url(url)} returned HTTP {response.status_code}"
                + (f" ({code})" if code else ""),
                status=response.status_code,
                retryable=response.status_code >= 500 or response.status_code == 429,
            )
        return response


def _form_name(value: str) -> str:
    """A form field or file name, escaped as browsers do (WHATWG)."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _form_frame(
    fields: Mapping[str, str], filename: str, file_type: str, boundary: str
) -> tuple[bytes, bytes]:
    """What a form sends before the file's bytes (every field, then the file
    part's headers) and after them (the closing boundary)."""
    disposition = f"--{boundary}\r\nContent-Disposition: form-data; name="
    head = "".join(
        f'{disposition}"{_form_name(name)}"\r\n\r\n{value}\r\n' for name, value in fields.items()
    )
    head += (
        f'{disposition}"file"; filename="{_form_name(filename)}"\r\n'
        f"Content-Type: {file_type}\r\n\r\n"
    )
    return head.encode(), f"\r\n--{boundary}--\r\n".encode()


def _committed(response: httpx.Response) -> int:
    """Bytes a 308 says are committed (no Range header means none)."""
    match = _RANGE.fullmatch(response.headers.get("Range", ""))
    return int(match.group(1)) + 1 if match else 0


def _error_code(body: str) -> str:
    match = re.search(r"<Code>([A-Za-z0-9]{1,64})</Code>", body)
    return match.group(1) if match else ""
