"""A WSGI app (the local backend's receiver) mounted in an ASGI app, streaming both ways.

Starlette's and uvicorn's own WSGI bridges are deprecated and read the whole
request body into memory first; an upload can be gigabytes. Here the WSGI
app runs in a worker thread and reads the body as it arrives: each
``wsgi.input.read`` waits (at most *body_timeout* seconds, else
:class:`TimeoutError`, which the receiver answers with 400) for the next
ASGI message, and each chunk of the answer is sent as the app yields it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Final
from wsgiref.types import WSGIApplication, WSGIEnvironment

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.types import Message, Receive, Scope, Send

from ...local._server import DEFAULT_BODY_TIMEOUT

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

__all__ = ["WSGIBridge"]


class WSGIBridge:
    """Serve the WSGI *app* to ASGI ``http`` requests (mount it like any ASGI app)."""

    def __init__(self, app: WSGIApplication, *, body_timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.app: Final = app
        self.body_timeout: Final = body_timeout

    def __repr__(self) -> str:
        return f"WSGIBridge({self.app!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = _Body(receive, self.body_timeout)
        responder = _Responder(send)
        await anyio.to_thread.run_sync(responder.run, self.app, _environ(scope, body))


class _Body:
    """``wsgi.input``: the request body, pulled from ASGI ``receive`` on demand.

    Read from the worker thread. A client that goes away raises
    :class:`ConnectionError`; one that stalls, :class:`TimeoutError`.
    """

    def __init__(self, receive: Receive, timeout: float) -> None:
        self._receive = receive
        self._timeout = timeout
        self._buffer = bytearray()
        self._more = True

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            while self._more:
                self._pull()
            size = len(self._buffer)
        elif not self._buffer and self._more:
            self._pull()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size: int = -1, /) -> bytes:
        while self._more and b"\n" not in self._buffer and (size < 0 or len(self._buffer) < size):
            self._pull()
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        return self.read(end if size < 0 else min(end, size))

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def _pull(self) -> None:
        message = anyio.from_thread.run(self._next_message)
        if message["type"] == "http.disconnect":
            self._more = False
            raise ConnectionError("the client went away")
        self._buffer += message.get("body", b"")
        self._more = bool(message.get("more_body", False))

    async def _next_message(self) -> Message:
        with anyio.fail_after(self._timeout):
            return await self._receive()


class _Responder:
    """``start_response`` and the body, sent as ASGI messages (from the worker thread)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None
        self._started = False

    def run(self, app: WSGIApplication, environ: WSGIEnvironment) -> None:
        result = app(environ, self.start_response)
        try:
            for chunk in result:
                self.write(chunk)
        finally:
            close = getattr(result, "close", None)
            if callable(close):
                close()
        self._send_start()
        self._emit({"type": "http.response.body", "body": b"", "more_body": False})

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
        /,
    ) -> Callable[[bytes], object]:
        if exc_info is not None and exc_info[1] is not None and self._started:
            raise exc_info[1].with_traceback(exc_info[2])
        self._start = {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
        return self.write

    def write(self, chunk: bytes) -> None:
        if chunk:
            self._send_start()
            self._emit({"type": "http.response.body", "body": chunk, "more_body": True})

    def _send_start(self) -> None:
        if self._started:
            return
        if self._start is None:
            raise RuntimeError("the WSGI app answered without calling start_response")
        self._started = True
        self._emit(self._start)

    def _emit(self, message: Message) -> None:
        anyio.from_thread.run(self._send_one, message)

    async def _send_one(self, message: Message) -> None:
        await self._send(message)


def _environ(scope: Scope, body: _Body) -> WSGIEnvironment:
    """The WSGI environ of an ASGI ``http`` scope (PEP 3333: text as latin-1 bytes)."""
    root = str(scope.get("root_path", ""))
    path = str(scope["path"])
    if root and path.startswith(root):
        path = path[len(root) :]
    server = scope.get("server") or ("localhost", 80)
    environ: WSGIEnvironment = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": _wsgi_text(root),
        "PATH_INFO": _wsgi_text(path),
        "QUERY_STRING": bytes(scope.get("query_string", b"")).decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        key = name if name in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _wsgi_text(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")
