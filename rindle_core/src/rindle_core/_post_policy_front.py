"""A form-POST policy checking front for emulators that accept any policy.

moto and fake-gcs-server store whatever a form POST sends, whatever its
policy says. A :class:`PostPolicyFront` sits before such an emulator on
127.0.0.1: a ``multipart/form-data`` POST is judged as S3 and GCS judge one
(the signature, by the caller's *verify*; the expiration; every condition:
exact values, ``starts-with``, ``content-length-range``; no field left
uncovered) and refused with an XML error, or forwarded unchanged (to
``rewrite(path)``); every other request passes through.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

import httpx

__all__ = ["PostPolicyFront", "Verify", "judge_post"]

#: ``verify(policy, fields)``: the error code for a bad signature, or None.
Verify = Callable[[str, Mapping[str, str]], "str | None"]

_HOP_BY_HOP: Final = frozenset({"transfer-encoding", "connection", "server", "date"})
#: Fields no condition needs to name.
_UNCOVERED: Final = ("policy", "file", "x-amz-signature", "x-goog-signature")


def _form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes] | None:
    """The form's fields and its file, or None if it is no multipart form."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    fields: dict[str, str] = {}
    data: bytes | None = None
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            return None
        if name == "file":
            data = payload
        else:
            fields[name] = payload.decode("utf-8")
    return (fields, data) if data is not None else None


def _expired(expiration: object, now: dt.datetime) -> bool:
    if not isinstance(expiration, str) or not expiration.endswith("Z"):
        return True
    try:
        moment = dt.datetime.fromisoformat(expiration[:-1]).replace(tzinfo=dt.UTC)
    except ValueError:
        return True
    return now >= moment


def judge_post(
    bucket: str, fields: Mapping[str, str], size: int, verify: Verify
) -> tuple[int, str] | None:
    """``(status, error code)`` if S3/GCS would refuse this form POST, else None."""
    policy = fields.get("policy", "")
    refused = verify(policy, fields)
    if refused is not None:
        return 403, refused
    try:
        document = json.loads(base64.b64decode(policy, validate=True))
    except (binascii.Error, ValueError):
        return 400, "InvalidPolicyDocument"
    if not isinstance(document, dict) or _expired(
        document.get("expiration"), dt.datetime.now(dt.UTC)
    ):
        return 403, "AccessDenied"
    lowered = {name.lower(): value for name, value in fields.items()}
    lowered["bucket"] = bucket
    covered = {"bucket"}
    for condition in document.get("conditions", ()):
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, value),) = condition.items()
            condition = ["eq", f"${name}", value]
        if not isinstance(condition, list) or len(condition) != 3:
            return 400, "InvalidPolicyDocument"
        operator, subject, value = condition
        if operator == "content-length-range":
            if size > value:
                return 400, "EntityTooLarge"
            if size < subject:
                return 400, "EntityTooSmall"
            continue
        name = str(subject).removeprefix("$").lower()
        covered.add(name)
        held = lowered.get(name)
        if held is None:
            return 403, "AccessDenied"
        if operator == "eq" and held != value:
            return 403, "AccessDenied"
        if operator == "starts-with" and not held.startswith(str(value)):
            return 403, "AccessDenied"
    uncovered = [
        name
        for name in lowered
        if name not in covered and name not in _UNCOVERED and not name.startswith("x-ignore-")
    ]
    return (403, "AccessDenied") if uncovered else None


class PostPolicyFront:
    """Forwards requests to *upstream*, refusing the form POSTs S3/GCS would refuse.

    ``refused`` lists the error codes answered so far; ``url`` is the front's
    base URL. Close it with :meth:`close`.
    """

    def __init__(
        self, upstream: str, *, verify: Verify, rewrite: Callable[[str], str] = str
    ) -> None:
        self.refused: list[str] = []
        front = self
        http = httpx.Client(base_url=upstream, timeout=60)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                path = self.path
                content_type = self.headers.get("Content-Type", "")
                if self.command == "POST" and content_type.startswith("multipart/form-data"):
                    refusal = front._judge(path, content_type, body, verify)
                    if refusal is not None:
                        status, code = refusal
                        front.refused.append(code)
                        self._reply(status, {}, f"<Error><Code>{code}</Code></Error>".encode())
                        return
                    path = rewrite(path)
                response = http.request(self.command, path, headers=headers, content=body)
                self._reply(response.status_code, response.headers, response.content)

            def _reply(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
                self.send_response(status)
                skip = set(_HOP_BY_HOP) | {"content-encoding"}
                if self.command != "HEAD":
                    skip.add("content-length")
                    self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    if name.lower() not in skip:
                        self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http = http
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def _judge(path: str, content_type: str, body: bytes, verify: Verify) -> tuple[int, str] | None:
        form = _form(content_type, body)
        if form is None:
            return 400, "MalformedPOSTRequest"
        fields, data = form
        bucket = path.split("?", 1)[0].strip("/").split("/", 1)[0]
        return judge_post(bucket, fields, len(data), verify)

    def close(self) -> None:
        """Stop serving and close the upstream connection pool."""
        self._server.shutdown()
        self._server.server_close()
        self._http.close()
