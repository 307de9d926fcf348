"""Run the upload receiver on a small threaded ``wsgiref`` server.

For development, tests and the CLI demo. Production apps mount
:class:`UploadReceiver` in their own WSGI server instead.
"""

from __future__ import annotations

import logging
import os
import re
import socketserver
import threading
from collections.abc import Collection
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

from ._receiver import DEFAULT_MAX_BODY, UploadReceiver

__all__ = ["ReceiverServer", "serve_receiver"]

logger = logging.getLogger("rindle_core.local")

_QUERY: Final = re.compile(r"\?[^\s\"']*")


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback to stderr; a dropped
        # connection is routine for an upload server.
        logger.debug("local receiver: connection error", exc_info=True)


class _QuietHandler(WSGIRequestHandler):
    """Logs through :mod:`logging` at DEBUG, with query strings redacted."""

    #: Seconds a stalled client may hold a worker thread.
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("local receiver %s: %s", self.address_string(), _redact(format % args))


def _redact(text: str) -> str:
    return _QUERY.sub("?[REDACTED]", text)


class ReceiverServer:
    """A receiver (or any WSGI app mounting one) served in a daemon thread.

    A context manager. ``url`` is the base URL to give :class:`LocalStorage`
    as ``base_url`` (plus the mount path, when *app* mounts the receiver).
    """

    def __init__(self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app: Final = app
        self._server = make_server(
            host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        bound_host, bound_port = self._server.server_address[:2]
        self.host: Final[str] = str(bound_host)
        self.port: Final[int] = int(bound_port)
        self.url: Final = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"rindle-local-receiver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    def __repr__(self) -> str:
        return f"ReceiverServer(url={self.url!r})"

    def close(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> ReceiverServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve_receiver(
    root: str | os.PathLike[str],
    secret: bytes | str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    allow_origins: Collection[str] = (),
) -> ReceiverServer:
    """Serve an :class:`UploadReceiver` for *root* on ``host:port`` (0: a free port).

    *secret* defaults to the root's ``.rindle-secret`` file, the same one a
    :class:`LocalStorage` on that root uses.
    """
    app = UploadReceiver(root, secret, max_body=max_body, allow_origins=allow_origins)
    return ReceiverServer(app, host, port)
