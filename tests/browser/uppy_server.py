"""The browser suite's web server: a FastAPI app with rindle's upload API at
``/api/uploads``, the test page at ``/`` and the committed Uppy bundle at
``/static/uppy/``, served by uvicorn in a thread on 127.0.0.1 (a free port).

The page and the API share one origin, so the API needs no CORS; storage (the
local receiver, or moto behind its front) is on other ports and allows this
origin. Every request the API receives is logged, so a test can count what
Uppy asked for.
"""

from __future__ import annotations

import socket
import threading
import time
from importlib.resources import files
from pathlib import Path
from typing import Final

import uvicorn
from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from rindle_core.web import UploadAPI
from rindle_core.web.fastapi import router

__all__ = ["API_PREFIX", "PAGE", "RequestLog", "WebServer"]

API_PREFIX: Final = "/api/uploads"
PAGE: Final = Path(__file__).with_name("uppy_page.html")
#: The bundle as the installed package ships it.
BUNDLE: Final = Path(str(files("rindle_core.web") / "static" / "uppy"))


class RequestLog:
    """ASGI middleware recording ``(method, path below the API)`` of every API request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path.startswith(API_PREFIX + "/"):
            with self._lock:
                self.seen.append((str(scope["method"]), path[len(API_PREFIX) :]))
        await self.app(scope, receive, send)

    def count(self, method: str, path: str) -> int:
        """How many *method* requests reached exactly *path*."""
        with self._lock:
            return self.seen.count((method, path))

    def matching(self, method: str, prefix: str) -> list[str]:
        """The logged paths of *method* requests starting with *prefix*."""
        with self._lock:
            return [p for m, p in self.seen if m == method and p.startswith(prefix)]


class WebServer:
    """uvicorn on a socket bound at construction, so :attr:`origin` is known
    before the app (and storage's CORS) is configured; :meth:`start` serves."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.origin: Final = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, api: UploadAPI) -> RequestLog:
        """Serve *api*, the page and the bundle; the log of API requests."""
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.include_router(router(api), prefix=API_PREFIX)
        app.mount("/static/uppy", StaticFiles(directory=BUNDLE), name="uppy")

        @app.get("/")
        def page() -> FileResponse:
            return FileResponse(PAGE, headers={"Cache-Control": "no-store"})

        log = RequestLog(app)
        config = uvicorn.Config(log, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on {self.origin}")
            time.sleep(0.01)
        return log

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()
