"""Mount an :class:`~rindle_core.web.UploadAPI` in any ASGI server, as a Starlette app.

Needs the ``web`` extra (Starlette)::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from rindle_core.web.asgi import create_app

    app = Starlette(routes=[Mount("/api/uploads", app=create_app(api))])

Every request's broker work (database and storage I/O, the ``authorize``
hook) runs in a worker thread (``anyio.to_thread``), never on the event
loop. CORS preflights are the host's: add Starlette's ``CORSMiddleware``
when the page is on another origin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from ._api import UploadAPI
from ._http import Headers, Request, Response, parse_query

__all__ = ["METHODS", "create_app", "endpoint"]

#: The methods routed to the API (HEAD and OPTIONS stay the framework's and CORS's).
METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE"]

Endpoint = Callable[[StarletteRequest], Awaitable[StarletteResponse]]


def create_app(api: UploadAPI) -> Starlette:
    """A Starlette app serving *api*; mount it where the API should live."""
    return Starlette(routes=[Route("/{path:path}", endpoint(api), methods=METHODS)])


def endpoint(api: UploadAPI) -> Endpoint:
    """The async endpoint behind a ``/{path:path}`` route (the FastAPI router's too)."""

    async def handle(request: StarletteRequest) -> StarletteResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > api.max_body:
            return _starlette(api.payload_too_large())
        body = await _read_body(request, api.max_body)
        if body is None:
            return _starlette(api.payload_too_large())
        response = await anyio.to_thread.run_sync(api.handle, _neutral(request, body))
        return _starlette(response)

    return handle


async def _read_body(request: StarletteRequest, limit: int) -> bytes | None:
    """The body, or None once it grows past *limit* (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _neutral(request: StarletteRequest, body: bytes) -> Request:
    sub = "/" + str(request.path_params.get("path", ""))
    full = str(request.scope.get("path", sub))
    root = full[: len(full) - len(sub)] if full.endswith(sub) else ""
    return Request(
        method=request.method,
        path=sub,
        query=parse_query(request.scope.get("query_string", b"")),
        headers=Headers(request.headers.items()),
        body=body,
        root=root,
        native=request,
    )


def _starlette(response: Response) -> StarletteResponse:
    return StarletteResponse(
        content=response.body, status_code=response.status, headers=dict(response.headers)
    )
