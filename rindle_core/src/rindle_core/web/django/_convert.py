"""Django's requests and responses as rindle's neutral ones, and a WSGI app as a view's answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from wsgiref.types import WSGIApplication

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from .._http import Headers, Request, Response, parse_query

__all__ = ["run_wsgi", "to_django", "to_request"]


def to_request(request: HttpRequest, path: str, max_body: int) -> Request:
    """The neutral request of a Django request; *path* is the part below the mount point.

    At most ``max_body + 1`` bytes of the body are read (the API answers 413
    for more).
    """
    sub = "/" + path
    return Request(
        method=(request.method or "GET").upper(),
        path=sub,
        query=parse_query(str(request.META.get("QUERY_STRING", ""))),
        headers=Headers(request.headers.items()),
        body=request.read(max_body + 1),
        root=_root(request, sub),
        native=request,
    )


def to_django(response: Response) -> HttpResponse:
    """A neutral response as Django's."""
    answer = HttpResponse(response.body, status=response.status)
    if response.header("Content-Type") is None:
        del answer["Content-Type"]
    for name, value in response.headers:
        answer[name] = value
    return answer


def run_wsgi(app: WSGIApplication, request: HttpRequest, path: str) -> StreamingHttpResponse:
    """*app*'s answer to *request*, mounted where the part below it is *path*.

    The environ is Django's ``META`` with the mount in ``SCRIPT_NAME``, the
    rest in ``PATH_INFO``, and the request itself as ``wsgi.input``; the
    body is streamed and closed when Django closes the response.
    """
    sub = "/" + path
    environ = {
        **request.META,
        "REQUEST_METHOD": request.method or "GET",
        "SCRIPT_NAME": _wsgi_text(_root(request, sub)),
        "PATH_INFO": _wsgi_text(sub),
        "wsgi.input": request,
    }
    started: list[tuple[str, list[tuple[str, str]]]] = []
    written: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None, /
    ) -> Callable[[bytes], object]:
        started.append((status, headers))
        return written.append

    body = app(environ, start_response)
    status, headers = started[-1]
    response = StreamingHttpResponse(_stream(written, body), status=int(status.split(" ", 1)[0]))
    del response["Content-Type"]
    for name, value in headers:
        response[name] = value
    return response


def _root(request: HttpRequest, sub: str) -> str:
    """The mount point: the request's full path less the part below it."""
    full = request.path
    return full[: len(full) - len(sub)] if full.endswith(sub) else ""


def _wsgi_text(text: str) -> str:
    """Text as WSGI carries it (its UTF-8 bytes as latin-1 characters)."""
    return text.encode("utf-8").decode("latin-1")


def _stream(written: list[bytes], body: Iterable[bytes]) -> Iterator[bytes]:
    """What the app wrote, then its body; the body is closed when Django closes this."""
    try:
        yield from written
        yield from body
    finally:
        close = getattr(body, "close", None)
        if callable(close):
            close()
