"""A client of rindle's upload API over HTTP: the broker's operations from another process.

The API is what :class:`rindle_core.web.UploadAPI` serves (``rindle serve``,
or the endpoints a FastAPI, Django or Flask app mounts). This client needs
neither the database nor a cloud SDK, only the standard library and attrs, so a
script or ``rindle upload --api URL`` starts fast and holds no credentials
but the ones the app gives its users::

    from rindle_core.api_client import APIClient
    from rindle_core.client import UploadClient

    with APIClient("https://app.example/api", token=token) as api, UploadClient() as up:
        started = api.initiate(
            "avatars", filename="cat.png", content_type="image/png", size=size
        )
        up.put(started.upload, "cat.png", resign=lambda: api.sign_put(started.session_id))
        status = api.complete(started.session_id)

Answers come back as the API's documented JSON shapes (``SessionShape``,
``AssetShape``: typed dicts) and signed requests as
:class:`~rindle_core.storage.PresignedRequest` and
:class:`~rindle_core.storage.PresignedPost`. Every refusal is an
:class:`APIError` carrying the problem's status, type and detail.

Requests the server never received (a refused connection), and answers
429 and 503, are tried again with backoff; a request that may have reached
the server is tried again only where the API says a replay is safe (every
route but ``POST /uploads``, whose replay would open a second session).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypedDict, TypeVar, cast
from urllib.parse import quote, urlsplit

import attrs

from ._errors import RindleError
from ._redaction import redact_url
from ._transfer import ConnectionPool, RetryPolicy, SendError
from .storage import PartChecksum, PresignedPost, PresignedRequest, UploadedPart

__all__ = [
    "APIClient",
    "APIError",
    "AssetShape",
    "Initiated",
    "MultipartRules",
    "PartsStatus",
    "ProfileShape",
    "SessionShape",
    "StatusShape",
]

_T = TypeVar("_T")
_JSON: Final = "application/json"
#: The largest answer read (1,000 signed parts with long URLs fit many times over);
#: a longer one is cut, and then is not JSON.
_MAX_ANSWER: Final = 16 * 1024 * 1024
#: The most a Retry-After may make the client wait, in seconds.
_MAX_RETRY_AFTER: Final = 30.0


class SessionShape(TypedDict):
    """The API's ``Session`` shape (see the OpenAPI document)."""

    id: str
    asset_id: str
    profile: str
    state: str
    strategy: str
    storage_key: str
    content_type: str
    declared_size: int | None
    part_size: int | None
    checksum_algorithm: str | None
    committed_bytes: int
    expires_at: str
    created_at: str
    updated_at: str
    verified_at: str | None
    failure_reason: str | None
    metadata: dict[str, Any]


class AssetShape(TypedDict):
    """The API's ``Asset`` shape."""

    id: str
    state: str
    filename: str
    content_type: str | None
    byte_size: int | None
    quarantine_reason: str | None
    created_at: str
    updated_at: str


class StatusShape(TypedDict):
    """The API's ``Status`` shape: a session and its asset."""

    session: SessionShape
    asset: AssetShape


class MultipartRules(TypedDict):
    """The ``multipart`` member of the ``Profile`` shape: the storage's part limits."""

    part_size: int
    min_part_size: int
    max_part_size: int
    max_parts: int
    checksum_algorithms: list[str]


class ProfileShape(TypedDict):
    """The API's ``Profile`` shape: what an upload in a profile may be, and how it may go."""

    name: str
    strategies: list[str]
    max_bytes: int | None
    min_bytes: int
    allow_mime: list[str]
    allow_extensions: list[str]
    part_size: int
    multipart: MultipartRules | None


class APIError(RindleError):
    """The API refused a request (a problem answer), or could not be reached.

    ``status`` is the HTTP status (None when no answer came), ``slug`` the
    problem type's name as ``docs/web.md`` documents it (``session-not-found``,
    ``policy-violation``, ``unauthorized``…; ``unreachable`` or
    ``unexpected-answer`` when the API did not answer with a problem), and
    ``members`` the problem's extension members (``reason``, ``state``,
    ``missing_part_numbers``). The message is the problem's title and detail,
    which the API keeps free of secrets.
    """

    def __init__(
        self,
        status: int | None,
        slug: str,
        title: str,
        detail: str,
        *,
        members: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{title}: {detail}" if detail else title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.members: Mapping[str, Any] = dict(members or {})

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed (unreachable, 429, 502, 503, 504)."""
        return self.status is None or self.status in (429, 502, 503, 504)


@attrs.frozen
class Initiated:
    """``POST /uploads``: the new session, and what its strategy needs next.

    ``upload`` (single PUT) and ``form`` (form POST) are signed at once;
    ``part_size`` and ``checksum_algorithm`` describe a multipart upload;
    ``session_uri`` is a resumable session's bearer URI (never in the repr).
    """

    session: SessionShape
    upload: PresignedRequest | None = None
    form: PresignedPost | None = None
    part_size: int | None = None
    part_count: int | None = None
    checksum_algorithm: str | None = None
    session_uri: str | None = attrs.field(default=None, repr=False)

    @property
    def session_id(self) -> str:
        """The session's id."""
        return self.session["id"]


@attrs.frozen
class PartsStatus:
    """``GET /uploads/{id}/parts``: the parts storage holds and those still missing."""

    session: SessionShape
    parts: tuple[UploadedPart, ...]
    missing_part_numbers: tuple[int, ...]
    committed_bytes: int


class APIClient:
    """Calls rindle's upload API at *base_url* (the mount point, e.g. ``https://app/api``).

    *headers* go with every request (a cookie, an API key); *token* is sent as
    ``Authorization: Bearer``. Neither ever appears in a repr, log or error.
    Safe to share between threads; close it (or use ``with``) when done.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        _check_base_url(base_url)
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": _JSON, **(headers or {})}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        for name, value in self._headers.items():
            _check_header(name, value)
        self._pool = ConnectionPool(timeout=timeout, max_body=_MAX_ANSWER)
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"APIClient({redact_url(self._base)!r})"

    def close(self) -> None:
        """Close the connections."""
        self._pool.close()

    def __enter__(self) -> APIClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- operations ----------------------------------------------------------------

    def profile(self, name: str) -> ProfileShape:
        """What an upload in profile *name* may be (sizes, types) and how it may go
        (strategies, part sizes, the part checksums its storage binds)."""
        return self._call("GET", f"/profiles/{_segment(name)}", read=_profile)

    def initiate(
        self,
        profile: str,
        *,
        filename: str,
        content_type: str,
        size: int | None = None,
        strategy: str = "presigned_put",
        part_size: int | None = None,
        checksum_algorithm: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> Initiated:
        """Open a session (``presigned_put``, ``presigned_post``, ``multipart`` or
        ``resumable``); a single PUT or POST comes back signed."""
        body: dict[str, object] = {
            "profile": profile,
            "strategy": strategy,
            "filename": filename,
            "content_type": content_type,
        }
        optional = {
            "size": size,
            "part_size": part_size,
            "checksum_algorithm": checksum_algorithm,
            "metadata": dict(metadata) if metadata is not None else None,
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        return self._call("POST", "/uploads", body, read=_initiated, replay_safe=False)

    def sign_put(self, session_id: str) -> PresignedRequest:
        """A fresh signature for a single-PUT session."""
        path = f"/uploads/{_segment(session_id)}/sign"
        return self._call("POST", path, read=lambda answer: _request(answer["upload"]))

    def sign_post(self, session_id: str) -> PresignedPost:
        """A fresh signed form for a form-POST session."""
        path = f"/uploads/{_segment(session_id)}/sign"
        return self._call("POST", path, read=lambda answer: _form(answer["form"]))

    def sign_parts(
        self,
        session_id: str,
        part_numbers: Sequence[int],
        checksums: Sequence[str] | None = None,
    ) -> list[PresignedRequest]:
        """Sign many multipart parts in one call (with their checksums, when the
        session binds them)."""
        body: dict[str, object] = {"part_numbers": list(part_numbers)}
        if checksums is not None:
            body["checksums"] = list(checksums)
        path = f"/uploads/{_segment(session_id)}/parts"
        return self._call(
            "POST", path, body, read=lambda answer: [_request(p) for p in answer["parts"]]
        )

    def list_parts(self, session_id: str) -> PartsStatus:
        """The parts storage holds, and the part numbers still missing."""
        return self._call("GET", f"/uploads/{_segment(session_id)}/parts", read=_parts_status)

    def complete(self, session_id: str, parts: Sequence[UploadedPart] | None = None) -> StatusShape:
        """Verify the upload (assembling a multipart upload's *parts* first).

        A replay answers the same, so a lost answer is safe to ask again.
        """
        body: dict[str, object] = {}
        if parts is not None:
            body["parts"] = [_part_json(part) for part in parts]
        return self._call("POST", f"/uploads/{_segment(session_id)}/complete", body, read=_status)

    def status(self, session_id: str) -> StatusShape:
        """The session and its asset."""
        return self._call("GET", f"/uploads/{_segment(session_id)}", read=_status)

    def abort(self, session_id: str) -> SessionShape:
        """Abort the upload and clean up storage (idempotent)."""
        path = f"/uploads/{_segment(session_id)}"
        return self._call(
            "DELETE", path, read=lambda answer: _shape(answer["session"], SessionShape)
        )

    # -- plumbing ------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, object] | None = None,
        *,
        read: Callable[[dict[str, Any]], _T],
        replay_safe: bool = True,
    ) -> _T:
        """Send one request, retrying what is safe to retry; its JSON answer, *read*.

        An answer that is not the documented shape (a member missing or of
        another type) is an :class:`APIError`, never a ``KeyError``.
        """
        headers = dict(self._headers)
        payload: tuple[bytes, ...] = ()
        if body is not None:
            payload = (json.dumps(body, separators=(",", ":")).encode(),)
            headers["Content-Type"] = _JSON
        url = self._base + path
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self._retry.attempts
            try:
                reply = self._pool.request(method, url, headers, payload)
            except SendError as exc:
                if last or (exc.sent and not replay_safe):
                    raise APIError(
                        None, "unreachable", "API unreachable", f"{method} {path}: {exc}"
                    ) from None
                time.sleep(self._retry.backoff(attempt))
                continue
            if 200 <= reply.status_code < 300:
                answer = _json_object(reply.content, method, path)
                try:
                    return read(answer)
                except (KeyError, TypeError, ValueError, AttributeError):
                    raise APIError(
                        None, "unexpected-answer", "Unexpected answer",
                        f"{method} {path}: not the documented shape",
                    ) from None  # fmt: skip
            if reply.status_code in (429, 503) and not last:
                time.sleep(_retry_after(reply.headers.get("retry-after"), self._retry, attempt))
                continue
            raise _problem(reply.status_code, reply.content, method, path)


def _check_base_url(url: str) -> None:
    """Refuse what would be ignored or leak: credentials, a query, another scheme."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the API's base URL must start with http:// or https:// and name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials go in token= or headers=, not in the API's URL")
    if parts.query or parts.fragment:
        raise ValueError("the API's base URL is its mount point: no query or fragment")


_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def _check_header(name: str, value: str) -> None:
    """Refuse a header that cannot be sent as given (the value is never quoted back)."""
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{name[:40]!r} is not a header name")
    if not _HEADER_VALUE.fullmatch(value):
        raise ValueError(f"the value of header {name!r} holds a line break or control character")


def _segment(value: str) -> str:
    """*value* as one path segment (an id never needs escaping; a hostile one does)."""
    return quote(value, safe="")


def _json_object(content: bytes, method: str, path: str) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise APIError(
            None, "unexpected-answer", "Unexpected answer", f"{method} {path}: not a JSON object"
        )
    return value


def _problem(status: int, content: bytes, method: str, path: str) -> APIError:
    """The error of a refusal: the problem's members, or the bare status."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("title"), str):
        return APIError(
            status, "unexpected-answer", f"HTTP {status}", f"{method} {path} was refused"
        )
    slug = str(body.get("type", "")).rpartition("#")[2] or "about-blank"
    members = {k: v for k, v in body.items() if k not in ("type", "title", "status", "detail")}
    return APIError(status, slug, body["title"], str(body.get("detail", "")), members=members)


def _retry_after(value: str | None, policy: RetryPolicy, attempt: int) -> float:
    """Seconds to wait: the server's ``Retry-After`` (capped), else the backoff."""
    when: dt.datetime | None = None
    if value:
        if value.strip().isdigit():
            return min(float(value), _MAX_RETRY_AFTER)
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(value)
        if when is not None and when.tzinfo is not None:
            wait = (when - dt.datetime.now(dt.UTC)).total_seconds()
            return min(max(wait, 0.0), _MAX_RETRY_AFTER)
    return policy.backoff(attempt)


def _shape(value: object, shape: type[_T]) -> _T:
    """*value* as the typed dict *shape*, once its required members are there."""
    required: frozenset[str] = getattr(shape, "__required_keys__", frozenset())
    if not isinstance(value, dict) or not required <= value.keys():
        raise KeyError(shape.__name__)
    return cast(_T, value)


def _profile(answer: dict[str, Any]) -> ProfileShape:
    profile = _shape(answer, ProfileShape)
    if profile["multipart"] is not None:
        _shape(profile["multipart"], MultipartRules)
    return profile


def _status(answer: dict[str, Any]) -> StatusShape:
    return StatusShape(
        session=_shape(answer["session"], SessionShape), asset=_shape(answer["asset"], AssetShape)
    )


def _initiated(answer: dict[str, Any]) -> Initiated:
    multipart = answer.get("multipart") or {}
    resumable = answer.get("resumable") or {}
    return Initiated(
        session=_shape(answer["session"], SessionShape),
        upload=_request(answer["upload"]) if "upload" in answer else None,
        form=_form(answer["form"]) if "form" in answer else None,
        part_size=multipart.get("part_size"),
        part_count=multipart.get("part_count"),
        checksum_algorithm=multipart.get("checksum_algorithm"),
        session_uri=resumable.get("session_uri"),
    )


def _parts_status(answer: dict[str, Any]) -> PartsStatus:
    session = _shape(answer["session"], SessionShape)
    algorithm = session["checksum_algorithm"]
    return PartsStatus(
        session=session,
        parts=tuple(_part(part, algorithm) for part in answer["parts"]),
        missing_part_numbers=tuple(answer["missing_part_numbers"]),
        committed_bytes=answer["committed_bytes"],
    )


def _time(value: object) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def _request(shape: Mapping[str, Any]) -> PresignedRequest:
    return PresignedRequest(
        url=shape["url"],
        method=shape["method"],
        headers=shape.get("headers") or {},
        expires_at=_time(shape.get("expires_at")),
        part_number=shape.get("part_number"),
    )


def _form(shape: Mapping[str, Any]) -> PresignedPost:
    expires_at = _time(shape.get("expires_at"))
    if expires_at is None:
        raise ValueError("a form without expiry")
    return PresignedPost(url=shape["url"], fields=shape["fields"], expires_at=expires_at)


def _part(shape: Mapping[str, Any], algorithm: str | None) -> UploadedPart:
    value = shape.get("checksum")
    checksum = PartChecksum(algorithm, value) if algorithm and value else None
    return UploadedPart(
        part_number=shape["part_number"], etag=shape.get("etag"), size=shape.get("size"),
        checksum=checksum,
    )  # fmt: skip


def _part_json(part: UploadedPart) -> dict[str, object]:
    shape: dict[str, object] = {"part_number": part.part_number}
    if part.etag is not None:
        shape["etag"] = part.etag
    if part.checksum is not None:
        shape["checksum"] = part.checksum.value
    return shape
