"""Framework-neutral HTTP values: the request a mount builds and the response it sends.

Stdlib only. A mount (ASGI, WSGI, Flask…) turns its framework's request into
a :class:`Request`, calls :meth:`UploadAPI.handle` and writes the
:class:`Response` back; nothing here knows any framework.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl

__all__ = ["JSON", "PROBLEM_JSON", "Headers", "Request", "Response", "json_response", "parse_query"]

JSON: Final = "application/json"
PROBLEM_JSON: Final = "application/problem+json"


class Headers(Mapping[str, str]):
    """Request headers: read-only, names case-insensitive; repeated headers are joined
    with ``", "`` as HTTP allows. Values are never shown in the repr."""

    __slots__ = ("_data",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        data: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            data[key] = f"{data[key]}, {value}" if key in data else value
        self._data = data

    def __getitem__(self, name: str) -> str:
        return self._data[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._data)!r})"


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, as a mount saw it.

    ``path`` is below the mount point and starts with ``/``; ``root`` is the
    mount point's path (``/api/uploads``), for the URLs responses point to.
    ``query`` keeps every ``(name, value)`` pair in order, percent-decoded.
    ``native`` is the framework's own request object (Starlette's, Flask's,
    a WSGI environ), for the ``authorize`` hook to read the host's session
    or user from; rindle itself never reads it.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    root: str = ""
    native: object = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"Request({self.method} {self.root}{self.path}, {len(self.body)} bytes)"

    def query_value(self, name: str) -> str | None:
        """The last value of query parameter *name*, or None."""
        found = None
        for key, value in self.query:
            if key == name:
                found = value
        return found

    @property
    def content_type(self) -> str:
        """The media type of the body, lower case, without parameters (``""`` if none)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Response:
    """What to send back: a status, headers and the body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"

    def header(self, name: str) -> str | None:
        """The value of header *name* (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def json(self) -> object:
        """The body parsed as JSON."""
        return json.loads(self.body)


#: Sent with every API response: signed URLs and upload state must not be cached.
_NO_STORE: Final = ("Cache-Control", "no-store")


def json_response(
    status: int,
    payload: object,
    *,
    content_type: str = JSON,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """A JSON response (compact UTF-8), never cached; ``204`` has no body."""
    if status == 204:
        return Response(status, (_NO_STORE, *headers))
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(
        status,
        (("Content-Type", content_type), _NO_STORE, *headers),
        body,
    )


def parse_query(raw: str | bytes) -> tuple[tuple[str, str], ...]:
    """The ``(name, value)`` pairs of a raw query string, percent-decoded as UTF-8.

    *raw* may be bytes, or a WSGI-style ``str`` whose characters are the raw
    bytes (latin-1).
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    decoded = text.encode("latin-1", "replace").decode("utf-8", "replace")
    return tuple(parse_qsl(decoded, keep_blank_values=True))
