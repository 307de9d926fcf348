"""Run the upload receiver on a small threaded ``wsgiref`` server.

For development, tests and the CLI demo. Production apps mount
:class:`UploadReceiver` in their own WSGI server instead (whose own
timeouts and request parsing then apply).

Two hardenings the WSGI app cannot do itself: every socket read and write
has a timeout (``body_timeout``), so a client that stalls mid-body gets a
400 ``RequestTimeout`` and frees its thread; and a request whose framing
is ambiguous (two ``Content-Length`` headers, or one with
``Transfer-Encoding``) is refused with 400 before the app sees it
(RFC 9112 §6.3; ``wsgiref`` would silently keep the first length).
"""

from __future__ import annotations

import logging
import math
import os
import re
import socketserver
import threading
from collections.abc import Collection
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

from rindle_core._errors import InvalidArgument

from ._receiver import DEFAULT_MAX_BODY, UploadReceiver, error_body

__all__ = ["DEFAULT_BODY_TIMEOUT", "ReceiverServer", "serve_receiver"]

#: Seconds a client may go without sending (or reading) a byte; S3 allows ~20 s.
DEFAULT_BODY_TIMEOUT: Final = 20.0
#: The longest ``body_timeout`` accepted.
MAX_BODY_TIMEOUT: Final = 3600.0

logger = logging.getLogger("rindle_core.local")

_QUERY: Final = re.compile(r"\?[^\s\"']*")


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    #: Set by :class:`ReceiverServer`; read by each handler's ``setup``.
    rindle_timeout: float = DEFAULT_BODY_TIMEOUT

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback to stderr; a dropped
        # connection is routine for an upload server.
        logger.debug("local receiver: connection error", exc_info=True)


class _QuietHandler(WSGIRequestHandler):
    """Bounded waits, strict framing, and logs at DEBUG with query strings redacted."""

    server: _ThreadingWSGIServer

    def setup(self) -> None:
        super().setup()
        # Every recv/send on this connection (the body included) waits at most this long.
        self.connection.settimeout(self.server.rindle_timeout)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1 or (lengths and self.headers.get("Transfer-Encoding")):
            self._refuse_framing()
            return False
        return True

    def _refuse_framing(self) -> None:
        body = error_body("InvalidRequest", "ambiguous message framing (Content-Length)")
        self.close_connection = True
        self.send_response(400)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("local receiver %s: %s", self.address_string(), _redact(format % args))


def _redact(text: str) -> str:
    return _QUERY.sub("?[REDACTED]", text)


class ReceiverServer:
    """A receiver (or any WSGI app mounting one) served in a daemon thread.

    A context manager. ``url`` is the base URL to give :class:`LocalStorage`
    as ``base_url`` (plus the mount path, when *app* mounts the receiver).
    ``timeout`` bounds, in seconds, each wait for a client's bytes (a stalled
    upload is answered 400 ``RequestTimeout``) and for a client to read.
    """

    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        self.app: Final = app
        self.timeout: Final = _check_timeout(timeout)
        self._server = make_server(
            host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._server.rindle_timeout = self.timeout
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
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> ReceiverServer:
    """Serve an :class:`UploadReceiver` for *root* on ``host:port`` (0: a free port).

    *secret* defaults to the root's ``.rindle-secret`` file, the same one a
    :class:`LocalStorage` on that root uses. *body_timeout* is how long, in
    seconds, a client may stall mid-body before it is answered 400.
    """
    timeout = _check_timeout(body_timeout)
    app = UploadReceiver(root, secret, max_body=max_body, allow_origins=allow_origins)
    return ReceiverServer(app, host, port, timeout=timeout)


def _check_timeout(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_BODY_TIMEOUT
    ):
        raise InvalidArgument(
            f"the receiver timeout must be a number of seconds in (0, {MAX_BODY_TIMEOUT:g}]"
        )
    return float(value)
