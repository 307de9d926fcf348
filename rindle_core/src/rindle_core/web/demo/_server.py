"""Run the demo app under uvicorn, on a socket bound beforehand, until Ctrl-C or SIGTERM.

uvicorn handles both signals: it stops accepting, lets requests in flight
finish (event streams end on their own once it is stopping; anything still
running after :data:`GRACE` seconds is cancelled), then returns. Its access
log never shows a query string: the receiver's URLs carry their signature there.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Final

import uvicorn
from starlette.types import ASGIApp

from ..._redaction import install_redaction

__all__ = ["GRACE", "run"]

#: Seconds a shutdown waits for requests in flight.
GRACE: Final = 5


def run(app_for: Callable[[Callable[[], bool]], ASGIApp], sock: socket.socket) -> None:
    """Serve ``app_for(stopping)`` on *sock* until a signal; *stopping* turns true then."""
    server: uvicorn.Server | None = None

    def stopping() -> bool:
        return server is not None and server.should_exit

    config = uvicorn.Config(
        app_for(stopping),
        lifespan="off",
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=GRACE,
    )
    logging.getLogger("uvicorn.access").addFilter(_RedactedTarget())
    install_redaction("uvicorn.error")
    server = uvicorn.Server(config)
    with _signals_only_stop():
        server.run(sockets=[sock])


class _RedactedTarget(logging.Filter):
    """Drops the query from the request target of uvicorn's access records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, mark, _ = args[2].partition("?")
            if mark:
                record.args = (args[0], args[1], f"{path}?[REDACTED]", args[3], args[4])
        return True


@contextlib.contextmanager
def _signals_only_stop() -> Iterator[None]:
    """uvicorn raises the signal that stopped it again once it is done: let that pass."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, _ignore) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The signal already stopped the server."""
