"""Mount an :class:`~rindle_core.web.UploadAPI` in any WSGI server. Stdlib only.

::

    from rindle_core.web.wsgi import create_app
    app = create_app(api)          # serve it at /api/uploads: SCRIPT_NAME is respected

Requests are answered in the server's thread. CORS preflights are not
answered: serve the page from the same origin, or wrap the app in a CORS
middleware.
"""

from __future__ import annotations

import http
from collections.abc import Iterable
from typing import Final
from wsgiref.types import InputStream, StartResponse, WSGIApplication, WSGIEnvironment

from ._api import UploadAPI
from ._http import Headers, Request, Response, parse_query

__all__ = ["create_app", "to_request", "to_response"]

#: CGI names of the two headers WSGI keeps without the ``HTTP_`` prefix.
_CGI_HEADERS: Final = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def create_app(api: UploadAPI) -> WSGIApplication:
    """A WSGI app serving *api*."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = to_request(environ, api.max_body)
        response = api.payload_too_large() if request is None else api.handle(request)
        status, headers, body = to_response(response)
        start_response(status, headers)
        return [body]

    return app


def _text(value: object) -> str:
    """A WSGI ``str`` (bytes as latin-1) as the UTF-8 text it carries."""
    raw = str(value or "")
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")


def to_request(environ: WSGIEnvironment, max_body: int) -> Request | None:
    """The neutral request of *environ*; None when its body is over *max_body*."""
    headers = Headers(
        [
            (name[5:].replace("_", "-").lower(), str(value))
            for name, value in environ.items()
            if name.startswith("HTTP_")
        ]
        + [(header, str(environ[cgi])) for cgi, header in _CGI_HEADERS.items() if environ.get(cgi)]
    )
    declared = headers.get("content-length", "0").strip() or "0"
    if not declared.isdigit():
        declared = "0"
    length = int(declared)
    if length > max_body:
        return None
    body = _read(environ["wsgi.input"], length) if length else b""
    return Request(
        method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
        path=_text(environ.get("PATH_INFO")) or "/",
        query=parse_query(str(environ.get("QUERY_STRING", ""))),
        headers=headers,
        body=body,
        root=_text(environ.get("SCRIPT_NAME")).rstrip("/"),
        native=environ,
    )


def _read(stream: InputStream, length: int) -> bytes:
    chunks: list[bytes] = []
    left = length
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def to_response(response: Response) -> tuple[str, list[tuple[str, str]], bytes]:
    """A neutral response as a WSGI status line, header list and body."""
    status = http.HTTPStatus(response.status)
    headers = [*response.headers, ("Content-Length", str(len(response.body)))]
    return f"{status.value} {status.phrase}", headers, response.body
