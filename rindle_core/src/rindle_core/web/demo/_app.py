"""The demo server's one ASGI app (Starlette): page, live events, API, receivers, Uppy.

Paths:

- ``/``: the page (and the demo's cookie, see :class:`DemoAccess`);
- ``/events``: the visitor's transitions as Server-Sent Events;
- ``/api/...``: the :class:`~rindle_core.web.UploadAPI` (Uppy's
  ``companionEndpoint`` is ``/api``);
- ``/storage/<name>/...``: each served local storage's receiver;
- ``/static/demo/...``: the page's script and style; ``/static/uppy/...``:
  the Uppy bundle shipped in ``rindle_core/web/static/uppy``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from html import escape
from pathlib import Path
from string import Template
from typing import Final
from urllib.parse import quote
from wsgiref.types import WSGIApplication

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .. import asgi
from .._api import UploadAPI
from ._access import DemoAccess
from ._bridge import WSGIBridge
from ._events import TransitionLog

__all__ = [
    "API_PREFIX",
    "UPPY_DIR",
    "UPPY_PREFIX",
    "create_app",
    "receiver_path",
]

#: Where the upload API is mounted (Uppy's ``companionEndpoint``).
API_PREFIX: Final = "/api"
#: Where the Uppy bundle is served from, and the directory it is read from.
UPPY_PREFIX: Final = "/static/uppy"
UPPY_DIR: Final = Path(__file__).resolve().parent.parent / "static" / "uppy"
#: The page's own files.
PAGE_DIR: Final = Path(__file__).resolve().parent / "page"
_PAGE_PREFIX: Final = "/static/demo"
_STORAGE_PREFIX: Final = "/storage"
#: A sequence number the client resumes after (``Last-Event-ID``).
_SEQ: Final = re.compile(r"[0-9]{1,18}")

#: The page's headers: its own scripts only; uploads may go to any storage origin.
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data: blob:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def receiver_path(storage: str) -> str:
    """The path the receiver of local storage *storage* is mounted at."""
    return f"{_STORAGE_PREFIX}/{quote(storage, safe='')}"


def create_app(
    api: UploadAPI,
    *,
    access: DemoAccess,
    log: TransitionLog,
    receivers: Mapping[str, WSGIApplication],
    stopping: Callable[[], bool],
    profile: str,
    poll_interval: float = 0.2,
    heartbeat: float = 15.0,
) -> Starlette:
    """The demo app. *receivers* maps local storage names to their receivers;
    event streams end once *stopping* answers true (the server is shutting down)."""
    page = Template((PAGE_DIR / "index.html").read_text(encoding="utf-8"))
    html = page.substitute(
        owner=escape(access.owner), profile=escape(profile), api=API_PREFIX, uppy=UPPY_PREFIX
    )

    async def show_page(request: Request) -> Response:
        response = HTMLResponse(html, headers=_PAGE_HEADERS)
        response.headers["Set-Cookie"] = access.set_cookie()
        return response

    async def events(request: Request) -> Response:
        if not access.admits(request.headers.get("cookie")):
            return PlainTextResponse("open the demo page first\n", status_code=401)
        after = request.headers.get("last-event-id") or request.query_params.get("after", "")
        seq = int(after) if _SEQ.fullmatch(after) else 0
        stream = _stream(log, access.owner, seq, stopping, poll_interval, heartbeat)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    routes: list[BaseRoute] = [
        Route("/", show_page, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        Mount(API_PREFIX, app=asgi.create_app(api)),
        *(Mount(receiver_path(name), app=WSGIBridge(app)) for name, app in receivers.items()),
        Mount(_PAGE_PREFIX, app=StaticFiles(directory=PAGE_DIR)),
        Mount(UPPY_PREFIX, app=_uppy_files()),
    ]
    return Starlette(routes=routes)


async def _stream(
    log: TransitionLog,
    owner: str,
    seq: int,
    stopping: Callable[[], bool],
    poll_interval: float,
    heartbeat: float,
) -> AsyncIterator[str]:
    """``transition`` events after *seq*, as they are recorded, until the server stops."""
    yield "retry: 1000\n\n"
    quiet = 0.0
    while not stopping():
        batch = log.since(owner, seq)
        for event in batch:
            seq = event.seq
            data = json.dumps(event.to_json(), separators=(",", ":"))
            yield f"id: {event.seq}\nevent: transition\ndata: {data}\n\n"
        quiet = 0.0 if batch else quiet + poll_interval
        if quiet >= heartbeat:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await anyio.sleep(poll_interval)


def _uppy_files() -> StaticFiles | Response:
    """The bundle's files, or a 404 saying it is missing from this installation."""
    if UPPY_DIR.is_dir():
        return StaticFiles(directory=UPPY_DIR)
    return PlainTextResponse(
        "the Uppy bundle is not installed (rindle_core/web/static/uppy)\n", status_code=404
    )
