"""The WSGI app that receives signed uploads for the local backend.

Stdlib only. Routes (relative to wherever the host mounts it, so
``SCRIPT_NAME`` / ``PATH_INFO`` are respected):

- ``PUT /o/<key>?exp=&ct=&len=&sig=`` creates the object atomically (a key
  that already holds one is refused with 412: uploads are create-only);
- ``PUT /o/<key>?exp=&len=&up=&pn=&sig=`` receives one part of a multipart
  upload into its staging directory and answers its ``ETag`` (404
  ``NoSuchUpload`` once the upload is completed or aborted);
- ``POST /o/<key>`` takes a ``multipart/form-data`` form whose fields carry
  the key, the ``Content-Type`` and the signed token (expiry, size range),
  with the file last; it creates the object like a PUT (204 and its ``ETag``);
- ``GET /o/<key>?exp=[&ver=&rct=&rcd=]&sig=`` serves the object (single
  ``Range`` → 206), as the signed version and with the signed response
  headers;
- ``OPTIONS /o/<key>`` answers CORS preflights for ``allow_origins``.

Errors are S3-style XML bodies (``<Error><Code>…</Code>``) so
:class:`~rindle_core.client.UploadClient` can name them. A refused upload
writes nothing. Neither responses nor log records carry the signature.
"""

from __future__ import annotations

import contextlib
import http
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import parse_qsl
from wsgiref.types import StartResponse, WSGIEnvironment
from xml.sax.saxutils import escape

import attrs

from rindle_core._errors import InvalidArgument, StorageConflict, StorageError, StorageNotFound

from . import _tokens
from ._disk import CHUNK, BodyTimeout, Disk, IncompleteBody, WriteRefused, load_secret
from ._form import MAX_FIELDS_BYTES, FormReader, SizedFile, boundary_of
from ._staging import PART_LIMITS, Staging

__all__ = ["DEFAULT_MAX_BODY", "OBJECT_PREFIX", "UploadReceiver", "error_body"]

#: Path prefix of object URLs, below the receiver's mount point.
OBJECT_PREFIX: Final = "/o/"
#: Largest body accepted when the URL does not bind a length (S3's single-PUT limit).
DEFAULT_MAX_BODY: Final = 5 * 1024**3
#: How much of a refused request's body is read and discarded so the client
#: gets the error response instead of a connection reset.
DEFAULT_DRAIN_LIMIT: Final = 1024 * 1024

_INT: Final = re.compile(r"0|[1-9][0-9]{0,18}")
_RANGE: Final = re.compile(r"bytes=([0-9]{1,19})?-([0-9]{1,19})?")

logger = logging.getLogger("rindle_core.local")

Headers = list[tuple[str, str]]

_ALLOW: Final = "GET, PUT, POST, OPTIONS"


@attrs.frozen
class _Response:
    status: int
    headers: Headers = attrs.field(factory=list)
    body: Iterable[bytes] = ()


def error_body(code: str, message: str) -> bytes:
    """An S3-style XML error document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    ).encode()


def _error(status: int, code: str, message: str, headers: Headers | None = None) -> _Response:
    body = error_body(code, message)
    return _Response(
        status,
        [
            ("Content-Type", "application/xml"),
            ("Content-Length", str(len(body))),
            *(headers or []),
        ],
        [body],
    )


class _CountingInput:
    """Wraps ``wsgi.input``: counts what was consumed, types the client's failures.

    A read that times out (the server's socket timeout: the client stalled
    mid-body) raises :class:`BodyTimeout`; a broken connection raises
    :class:`IncompleteBody`. Both are the client's fault (400), and the
    stream is not read again afterwards.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.consumed = 0
        self.broken = False

    def read(self, size: int, /) -> bytes:
        if self.broken:
            return b""
        try:
            data = self._stream.read(size)
        except TimeoutError:
            self.broken = True
            raise BodyTimeout(
                f"the client sent no data for too long after {self.consumed} bytes"
            ) from None
        except OSError:
            self.broken = True
            raise IncompleteBody(f"the connection broke after {self.consumed} bytes") from None
        self.consumed += len(data)
        return data


class _FileSlice:
    """A WSGI body streaming ``length`` bytes of an open file from ``start``."""

    def __init__(self, fh: BinaryIO, start: int, length: int) -> None:
        self._fh = fh
        self._start = start
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        self._fh.seek(self._start)
        remaining = self._length
        while remaining > 0:
            chunk = self._fh.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._fh.close()


class UploadReceiver:
    """A WSGI app that accepts uploads signed by :class:`LocalStorage`.

    Mount it anywhere (e.g. ``/uploads``) and give the storage that mount's
    absolute URL as ``base_url``. ``max_body`` caps every body (a PUT, a
    multipart part, a form's file); ``allow_origins`` lists the origins (or
    ``"*"``) allowed to upload from a browser on another origin.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        secret: bytes | str | None = None,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        allow_origins: Collection[str] = (),
        drain_limit: int = DEFAULT_DRAIN_LIMIT,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(allow_origins, str):
            raise TypeError("allow_origins must be a collection of origins, not a string")
        self._disk = Disk(Path(root), fsync=fsync)
        self._staging = Staging(self._disk)
        self._secret = load_secret(self._disk.root, secret)
        self._max_body = max_body
        self._allow_origins = frozenset(allow_origins)
        self._drain_limit = drain_limit
        self._clock = clock

    def __repr__(self) -> str:
        return f"UploadReceiver(root={str(self._disk.root)!r})"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = _CountingInput(environ["wsgi.input"])
        try:
            response = self._handle(environ, body)
        except Exception:
            logger.exception("local receiver: unexpected error")
            response = _error(500, "InternalError", "the request could not be handled")
        if response.status >= 400:
            self._drain(environ, body)
        headers = response.headers + self._cors_headers(environ)
        status = http.HTTPStatus(response.status)
        start_response(f"{status.value} {status.phrase}", headers)
        return response.body

    # -- routing ----------------------------------------------------------------

    def _handle(self, environ: WSGIEnvironment, body: _CountingInput) -> _Response:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        try:
            path = _path_info(environ)
        except UnicodeError:
            return _error(400, "InvalidKey", "the object key is not valid UTF-8")
        if not path.startswith(OBJECT_PREFIX):
            return _error(404, "NoSuchRoute", "no such route")
        key = path[len(OBJECT_PREFIX) :]
        if method == "OPTIONS":
            return self._preflight(environ)
        if method not in ("PUT", "GET", "POST"):
            return _error(
                405,
                "MethodNotAllowed",
                f"{method} is not allowed",
                [("Allow", _ALLOW)],
            )
        if environ.get("HTTP_TRANSFER_ENCODING") and environ.get("CONTENT_LENGTH"):
            # RFC 9112 §6.3: ambiguous framing (request smuggling); refuse it.
            return _error(400, "InvalidRequest", "Content-Length with Transfer-Encoding")
        try:
            self._disk.path(key)
        except InvalidArgument:
            logger.info("local receiver: refused %s with an invalid key", method)
            return _error(400, "InvalidKey", "the object key is not valid")
        if method == "POST":
            return self._post(environ, key, body)
        claims = _tokens.verify(
            self._secret, method, key, _query(environ.get("QUERY_STRING", "")), now=self._clock
        )
        if isinstance(claims, _tokens.TokenError):
            logger.info("local receiver: refused %s %r (%s)", method, key, claims.value)
            return _refusal(claims)
        if method == "PUT" and claims.is_part:
            return self._put_part(environ, key, claims, body)
        if method == "PUT":
            return self._put(environ, key, claims, body)
        return self._get(environ, key, claims)

    # -- PUT --------------------------------------------------------------------

    def _put(
        self, environ: WSGIEnvironment, key: str, claims: _tokens.Claims, body: _CountingInput
    ) -> _Response:
        content_type = str(environ.get("CONTENT_TYPE", ""))
        if claims.content_type is None or content_type != claims.content_type:
            return _error(403, "ContentTypeMismatch", "Content-Type differs from the signed one")
        declared = _declared_length(environ, claims.content_length, self._max_body)
        if isinstance(declared, _Response):
            return declared
        try:
            # Create-only: an existing key is refused before the body is read,
            # and again atomically when the body is committed.
            head = self._disk.write(
                key, body, content_type=content_type, length=declared, max_size=self._max_body
            )
        except WriteRefused as exc:
            logger.info("local receiver: refused PUT %r (%s)", key, exc.code)
            return _error(exc.status, exc.code, str(exc))
        except (OSError, StorageError) as exc:
            logger.error("local receiver: could not store %r (%s)", key, type(exc).__name__)
            return _error(500, "InternalError", "the object could not be stored")
        logger.debug("local receiver: stored %r (%d bytes)", key, head.size)
        return _Response(200, [("ETag", head.etag or ""), ("Content-Length", "0")])

    # -- PUT of a multipart part -----------------------------------------------------

    def _put_part(
        self, environ: WSGIEnvironment, key: str, claims: _tokens.Claims, body: _CountingInput
    ) -> _Response:
        """Stream one part into its upload's staging; any ``Content-Type`` is accepted."""
        upload_id, number = claims.upload_id, claims.part_number
        if upload_id is None or number is None or not 1 <= number <= PART_LIMITS.max_parts:
            return _error(400, "InvalidPart", "the part number is not valid")
        limit = min(self._max_body, PART_LIMITS.max_part_size)
        declared = _declared_length(environ, claims.content_length, limit)
        if isinstance(declared, _Response):
            return declared
        try:
            part = self._staging.write_part(
                key, upload_id, number, body, length=declared, checksum=claims.checksum
            )
        except WriteRefused as exc:
            logger.info("local receiver: refused part %d of %r (%s)", number, key, exc.code)
            return _error(exc.status, exc.code, str(exc))
        except (OSError, StorageError) as exc:
            logger.error(
                "local receiver: could not store part %d of %r (%s)",
                number,
                key,
                type(exc).__name__,
            )
            return _error(500, "InternalError", "the part could not be stored")
        logger.debug("local receiver: stored part %d of %r (%d bytes)", number, key, part.size)
        return _Response(200, [("ETag", part.etag or ""), ("Content-Length", "0")])

    # -- POST of a form ----------------------------------------------------------------

    def _post(self, environ: WSGIEnvironment, key: str, body: _CountingInput) -> _Response:
        """Create *key* from a form whose fields carry the token, streaming its file to disk."""
        boundary = boundary_of(str(environ.get("CONTENT_TYPE", "")))
        if boundary is None:
            return _error(400, "MalformedPOSTRequest", "the body must be multipart/form-data")
        declared = _declared_length(environ, None, self._max_body + 2 * MAX_FIELDS_BYTES)
        if isinstance(declared, _Response):
            return declared
        limited = _Limited(body, declared)
        form = FormReader(limited, boundary)
        try:
            claims = self._form_claims(key, form.fields())
            if isinstance(claims, _Response):
                return claims
            min_size, max_size = claims.min_size or 0, claims.max_size or 0
            if declared > max_size + 2 * MAX_FIELDS_BYTES:
                return _error(413, "EntityTooLarge", "the body is larger than the signed range")
            head = self._disk.write(
                key,
                SizedFile(form, min_size),
                content_type=claims.content_type or "",
                length=None,
                max_size=min(max_size, self._max_body),
            )
        except WriteRefused as exc:
            logger.info("local receiver: refused POST %r (%s)", key, exc.code)
            return _error(exc.status, exc.code, str(exc))
        except (OSError, StorageError) as exc:
            logger.error("local receiver: could not store %r (%s)", key, type(exc).__name__)
            return _error(500, "InternalError", "the object could not be stored")
        limited.skip(2 * MAX_FIELDS_BYTES)  # the closing boundary, and fields S3 would ignore
        logger.debug("local receiver: stored %r from a form (%d bytes)", key, head.size)
        return _Response(204, [("ETag", head.etag or "")])

    def _form_claims(self, key: str, fields: dict[str, str]) -> _tokens.Claims | _Response:
        """The verified claims of a form's token fields, or why they are refused."""
        types = [value for name, value in fields.items() if name.lower() == "content-type"]
        token = {
            name: fields[field] for name, field in _tokens.FORM_FIELDS.items() if field in fields
        }
        if len(types) != 1 or len(token) != len(_tokens.FORM_FIELDS):
            logger.info("local receiver: refused POST %r (no token in the form)", key)
            return _error(403, "AccessDenied", "the form carries no valid signed policy")
        if fields.get("key") != key:
            return _error(403, "AccessDenied", "the form's key is not the URL's")
        claims = _tokens.verify(
            self._secret, "POST", key, {**token, "ct": types[0]}, now=self._clock
        )
        if isinstance(claims, _tokens.TokenError):
            logger.info("local receiver: refused POST %r (%s)", key, claims.value)
            return _refusal(claims)
        return claims

    # -- GET --------------------------------------------------------------------

    def _get(self, environ: WSGIEnvironment, key: str, claims: _tokens.Claims) -> _Response:
        try:
            fh, head = self._disk.open(key, version=claims.version)
        except StorageNotFound:
            return _error(404, "NoSuchKey", "the object does not exist")
        except StorageConflict:
            logger.info("local receiver: refused GET %r (bound to another version)", key)
            return _error(404, "NoSuchVersion", "the object no longer has the signed version")
        served = claims.response_content_type or head.content_type or "application/octet-stream"
        headers: Headers = [
            ("Content-Type", served),
            ("Accept-Ranges", "bytes"),
            # Uploaded content must never run as the host app's own page.
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "sandbox; default-src 'none'"),
            ("Cache-Control", "private, no-store"),
        ]
        if claims.response_content_disposition is not None:
            headers.append(("Content-Disposition", claims.response_content_disposition))
        if head.etag:
            headers.append(("ETag", head.etag))
        size = head.size
        try:
            span = _parse_range(str(environ.get("HTTP_RANGE", "")), size)
        except _Unsatisfiable:
            fh.close()
            return _error(
                416,
                "InvalidRange",
                "the range is not satisfiable",
                [("Content-Range", f"bytes */{size}")],
            )
        if span is None:
            headers.append(("Content-Length", str(size)))
            return _Response(200, headers, _FileSlice(fh, 0, size))
        start, end = span
        headers += [
            ("Content-Length", str(end - start + 1)),
            ("Content-Range", f"bytes {start}-{end}/{size}"),
        ]
        return _Response(206, headers, _FileSlice(fh, start, end - start + 1))

    # -- CORS and draining ----------------------------------------------------

    def _origin_allowed(self, origin: str) -> bool:
        return bool(origin) and ("*" in self._allow_origins or origin in self._allow_origins)

    def _cors_headers(self, environ: WSGIEnvironment) -> Headers:
        origin = str(environ.get("HTTP_ORIGIN", ""))
        if not self._origin_allowed(origin):
            return []
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Expose-Headers", "ETag, Content-Range, Content-Length"),
            ("Vary", "Origin"),
        ]

    def _preflight(self, environ: WSGIEnvironment) -> _Response:
        origin = str(environ.get("HTTP_ORIGIN", ""))
        if not origin:
            return _Response(204, [("Allow", _ALLOW)])
        if not self._origin_allowed(origin):
            return _error(403, "CORSForbidden", "this origin may not upload here")
        return _Response(
            204,
            [
                ("Access-Control-Allow-Methods", "GET, PUT, POST"),
                ("Access-Control-Allow-Headers", "Content-Type, Range"),
                ("Access-Control-Max-Age", "600"),
            ],
        )

    def _drain(self, environ: WSGIEnvironment, body: _CountingInput) -> None:
        """Read (and drop) a small refused body so the client sees our answer."""
        if body.broken:
            return
        declared = str(environ.get("CONTENT_LENGTH", "")).strip()
        if not _INT.fullmatch(declared):
            return
        remaining = int(declared) - body.consumed
        if not 0 < remaining <= self._drain_limit:
            return
        try:
            while remaining > 0 and (chunk := body.read(min(CHUNK, remaining))):
                remaining -= len(chunk)
        except WriteRefused:
            return


class _Limited:
    """At most *length* bytes of *stream*: a form is never read past its body."""

    def __init__(self, stream: _CountingInput, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int, /) -> bytes:
        if self._left <= 0:
            return b""
        data = self._stream.read(min(size, self._left))
        self._left -= len(data)
        return data

    def skip(self, limit: int) -> None:
        """Read and drop what is left of the body, if at most *limit* bytes."""
        if self._left > limit:
            return
        with contextlib.suppress(WriteRefused):
            while self.read(CHUNK):
                pass


def _declared_length(environ: WSGIEnvironment, bound: int | None, limit: int) -> int | _Response:
    """The request's ``Content-Length`` if it fits the signed *bound* and *limit*, else why not."""
    if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
        return _error(411, "MissingContentLength", "chunked uploads are not accepted")
    declared_text = str(environ.get("CONTENT_LENGTH", "")).strip()
    if not declared_text:
        return _error(411, "MissingContentLength", "Content-Length is required")
    if not _INT.fullmatch(declared_text):
        return _error(400, "InvalidContentLength", "Content-Length is not a valid integer")
    declared = int(declared_text)
    if bound is not None and declared > bound:
        return _error(413, "EntityTooLarge", "the body is larger than the signed length")
    if bound is not None and declared < bound:
        return _error(400, "IncompleteBody", "the body is shorter than the signed length")
    if declared > limit:
        return _error(413, "EntityTooLarge", "the body is larger than the receiver accepts")
    return declared


def _path_info(environ: WSGIEnvironment) -> str:
    """``PATH_INFO`` as text, relative to the mount point.

    Some ASGI-to-WSGI bridges leave the mount prefix (``SCRIPT_NAME``) in
    ``PATH_INFO``; it is stripped when the remainder is an object route.
    """
    path = str(environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8")
    script_name = str(environ.get("SCRIPT_NAME", "")).encode("latin-1").decode("utf-8")
    script_name = script_name.rstrip("/")
    if script_name and path.startswith(script_name + OBJECT_PREFIX):
        return path[len(script_name) :]
    return path


def _query(query_string: str) -> dict[str, str]:
    pairs = parse_qsl(query_string, keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        return {}  # a repeated parameter is ambiguous: treat as unsigned
    return params


def _refusal(reason: _tokens.TokenError) -> _Response:
    if reason is _tokens.TokenError.EXPIRED:
        return _error(403, "ExpiredToken", "the signed URL has expired")
    if reason is _tokens.TokenError.MALFORMED:
        return _error(403, "AccessDenied", "the URL carries no valid signature")
    return _error(403, "SignatureDoesNotMatch", "the signature does not match the request")


class _Unsatisfiable(Exception):
    pass


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive, or ``None`` to serve the whole object.

    Raises :class:`_Unsatisfiable` for a range wholly past the end.
    """
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None  # absent, multi-range or malformed: the whole object (RFC 9110)
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    return start, min(end, size - 1)
