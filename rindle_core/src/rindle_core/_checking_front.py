"""A signature-checking HTTP front for emulators that accept any signature.

moto and the GCS emulators store whatever a signed URL sends, valid or not.
A :class:`CheckingFront` sits before such an emulator on 127.0.0.1: requests
whose target carries *marker* (the signature's query parameter) are judged
by *refuse*, and the refused ones answered with an S3/GCS-style XML error;
everything else (the SDK's own authenticated calls) is forwarded unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["CheckingFront", "Refusal"]

#: ``refuse(method, host, target, headers)`` -> ``(status, error code)`` or None to forward.
Refusal = Callable[[str, str, str, Mapping[str, str]], "tuple[int, str] | None"]

_HOP_BY_HOP = frozenset({"transfer-encoding", "connection", "server", "date", "content-encoding"})


class CheckingFront:
    """Forwards requests to *upstream*, refusing signed ones that *refuse* rejects.

    ``refused`` lists the error codes answered so far; ``url`` is the front's
    base URL. Close it with :meth:`close`.
    """

    def __init__(self, upstream: str, *, marker: str, refuse: Refusal) -> None:
        self.refused: list[str] = []
        front = self
        http = httpx.Client(base_url=upstream, timeout=60)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                # A CORS preflight carries no signature: the service answers it.
                if marker in self.path and self.command != "OPTIONS":
                    refusal = refuse(self.command, self.headers["Host"], self.path, headers)
                    if refusal is not None:
                        status, code = refusal
                        front.refused.append(code)
                        self._reply(status, {}, f"<Error><Code>{code}</Code></Error>".encode())
                        return
                forwarded = {k: v for k, v in headers.items() if k.lower() != "host"}
                response = http.request(self.command, self.path, headers=forwarded, content=body)
                self._reply(response.status_code, response.headers, response.content)

            def _reply(self, status: int, headers: Any, body: bytes) -> None:
                self.send_response(status)
                skip = set(_HOP_BY_HOP)
                if self.command != "HEAD":  # a HEAD reports the object's length
                    skip.add("content-length")
                    self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    if name.lower() not in skip:
                        self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http = http
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close the upstream connection pool."""
        self._server.shutdown()
        self._server.server_close()
        self._http.close()
