"""An app serving rindle's upload API over real HTTP, for the API client's tests.

A threaded stdlib WSGI server on 127.0.0.1 (a free port) mounts
:class:`~rindle_core.web.UploadAPI` at ``/api``, as an app would; its
``authorize`` hook admits ``Authorization: Bearer`` with the one token it
was given. The local backend's receiver stores the bytes.
"""

from __future__ import annotations

import contextlib
import hmac
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import attrs
import pluggy

from rindle_core import Broker, Database, Profile
from rindle_core.local import LocalStorage
from rindle_core.models import UploadSession
from rindle_core.web import Action, Denied, Request, UploadAPI
from rindle_core.web.wsgi import create_app

TOKEN = "t0ken-for-tests-only"
OWNER = "alice"


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def bearer(token: str = TOKEN, owner: str = OWNER) -> Any:
    """An ``authorize`` hook admitting ``Authorization: Bearer <token>`` as *owner*."""

    def authorize(
        request: Request, action: Action, profile: str, session: UploadSession | None
    ) -> str:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise Denied("send your API token", status=401)
        return owner

    return authorize


def local_broker(db: Database, root: Path, receiver_url: str, pm: pluggy.PluginManager) -> Broker:
    """The app's broker: profile ``files`` (up to 64 MiB) on local storage under *root*,
    served by the receiver at *receiver_url*; promotion runs inline."""
    return Broker(
        db,
        profiles=[Profile(name="files", storage="disk", max_bytes=64 * 1024 * 1024)],
        storages={"disk": LocalStorage(root, base_url=receiver_url, fsync=False)},
        plugin_manager=pm,
        job_mode="inline",
    )


@attrs.define
class ServedAPI:
    """The running app: its API's base URL and the requests it answered."""

    url: str
    requests: list[tuple[str, str]]


@contextlib.contextmanager
def serve_api(broker: Broker, *, token: str = TOKEN) -> Iterator[ServedAPI]:
    """Serve *broker*'s upload API at ``http://127.0.0.1:<port>/api`` until the block ends."""
    api = UploadAPI(broker, authorize=bearer(token))
    inner = create_app(api)
    seen: list[tuple[str, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        seen.append((environ["REQUEST_METHOD"], path))
        if not path.startswith("/api/") and path != "/api":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not here"]
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = "/api", path[len("/api") :]
        return inner(environ, start_response)

    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ServedAPI(f"http://127.0.0.1:{server.server_port}/api", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
