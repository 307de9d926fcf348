"""The GCS resumable-upload protocol over raw HTTP: create, query, cancel.

* **create** — ``POST …/upload/storage/v1/b/BUCKET/o?uploadType=resumable
  &ifGenerationMatch=0`` with the object's content type, its declared size
  (``X-Upload-Content-Length``: GCS then refuses any other total) and the
  browser's ``Origin`` (GCS answers CORS for that origin on the session
  URI). The ``Location`` header is the session URI. ``ifGenerationMatch=0``
  makes the upload create-only: GCS refuses to finalise it (``412``) when
  an object already exists under the key.
* **status** — an empty ``PUT`` with ``Content-Range: bytes */*``: ``308``
  with ``Range: bytes=0-N`` means ``N + 1`` bytes are committed, a ``308``
  without ``Range`` means none, ``200``/``201`` means the object exists.
* **cancel** — ``DELETE`` on the session URI; GCS answers ``499``.

The session URI is a bearer credential: whoever holds it can write the
object. It never appears in a log line, a repr or an exception message, and
status and cancel requests carry no OAuth token (the URI alone authorises
them, so a tampered URI cannot harvest one).

Every request waits at most the ``(connect, read)`` timeout; transport
failures and transient statuses (408, 429, 5xx) are retried with jittered
exponential back-off until the retry budget is spent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol
from urllib.parse import quote, urlsplit

import requests
from google.auth import exceptions as auth_exceptions

from rindle_core import (
    ResumableStatus,
    ResumableUpload,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
)
from rindle_core._telemetry import log_event
from rindle_core.adapters import utcnow

from ._errors import TRANSIENT_STATUSES, error_for_status
from ._sdk import Timeout

__all__ = [
    "SESSION_LIFETIME",
    "HTTPResponse",
    "HTTPSession",
    "ResumableProtocol",
    "session_fingerprint",
]

#: How long GCS keeps a resumable session URI valid.
SESSION_LIFETIME: Final = dt.timedelta(days=7)

_RANGE: Final = re.compile(r"bytes=0-([0-9]+)")
_FIRST_BACKOFF: Final = 0.5
_MAX_BACKOFF: Final = 8.0

logger = logging.getLogger("rindle.gcs")


class HTTPResponse(Protocol):
    """The part of ``requests.Response`` the protocol reads."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class HTTPSession(Protocol):
    """The part of ``requests.Session`` the protocol calls."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        data: bytes,
        timeout: Timeout,
        allow_redirects: bool,
    ) -> HTTPResponse: ...


def session_fingerprint(session_uri: str) -> str:
    """A stable, non-secret id for a session URI (safe to store and log).

    GCS's own ``upload_id`` is the secret part of the session URI, so rindle
    never hands it out; it uses this digest instead.
    """
    return "gcs-" + hashlib.sha256(session_uri.encode("utf-8")).hexdigest()[:32]


def _check_session_uri(session_uri: str) -> None:
    parts = urlsplit(session_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # A StorageError, so maintenance records a failed cleanup instead of crashing.
        raise StorageError("GCS resumable session URI is not an http(s) URL")


class ResumableProtocol:
    """Create, query and cancel resumable sessions of one bucket.

    *authorized* sends the create request with the service's credentials
    (a ``google.auth`` ``AuthorizedSession``); *anonymous* sends status and
    cancel requests, which the session URI alone authorises. *timeout* is
    seconds or ``(connect, read)`` per request; *retry_timeout* the seconds
    of retries per call (0: a single attempt).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        authorized: HTTPSession,
        anonymous: HTTPSession,
        timeout: Timeout,
        retry_timeout: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = bucket
        self._upload_url = f"{endpoint.rstrip('/')}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        self._authorized = authorized
        self._anonymous = anonymous
        self._timeout = timeout
        self._retry_timeout = retry_timeout
        self._sleep = sleep
        self._clock = clock

    def close(self) -> None:
        """Close both HTTP sessions (their pooled connections)."""
        for session in (self._authorized, self._anonymous):
            close = getattr(session, "close", None)
            if callable(close):
                close()

    def create(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableUpload:
        """Start a session for *key*; GCS enforces *size* when given.

        The arguments are checked already (by :meth:`rindle_gcs.GCSStorage.create_resumable`):
        *content_type* and *origin* are single-line header values.
        """
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": content_type,
        }
        if size is not None:
            headers["X-Upload-Content-Length"] = str(size)
        if origin:
            headers["Origin"] = origin
        body = json.dumps({"name": key, "contentType": content_type}).encode("utf-8")
        url = (
            f"{self._upload_url}?uploadType=resumable&name={quote(key, safe='')}"
            "&ifGenerationMatch=0"
        )
        started = utcnow()
        response = self._send(self._authorized, "POST", url, headers, body, "resumable create")
        if response.status_code == 404:
            # A create names no object that could be missing: it is the bucket.
            raise StorageError(
                f"GCS resumable create failed: bucket {self._bucket!r} does not exist "
                "(check the storage's 'bucket' option)"
            )
        if response.status_code not in (200, 201):
            raise error_for_status("resumable create", response.status_code)
        location = response.headers.get("Location")
        if not location:
            raise StorageError("GCS resumable create failed: no Location in the response")
        _check_session_uri(location)
        upload_id = session_fingerprint(location)
        log_event(
            logger,
            logging.DEBUG,
            "rindle.gcs.resumable.created",
            key=key,
            upload_id=upload_id,
            size=size,
        )
        return ResumableUpload(
            session_uri=location, upload_id=upload_id, expires_at=started + SESSION_LIFETIME
        )

    def status(self, session_uri: str) -> ResumableStatus:
        """How many bytes the session holds, and whether it is complete.

        An unknown session (``404``) or a cancelled one (``499``) raises
        :class:`~rindle_core.StorageNotFound`; an expired one (``410``) is
        the state ``"expired"`` with 0 committed bytes; one whose create-only
        precondition failed (``412``) raises :class:`~rindle_core.StorageConflict`.
        """
        _check_session_uri(session_uri)
        response = self._send(
            self._anonymous,
            "PUT",
            session_uri,
            {"Content-Range": "bytes */*", "Content-Length": "0"},
            b"",
            "resumable status",
        )
        code = response.status_code
        upload_id = session_fingerprint(session_uri)
        if code == 308:
            committed = _committed(response.headers.get("Range"))
            log_event(
                logger,
                logging.DEBUG,
                "rindle.gcs.resumable.status",
                upload_id=upload_id,
                committed=committed,
            )
            return ResumableStatus(state="in_progress", committed_bytes=committed)
        if code in (200, 201):
            return ResumableStatus(state="complete", committed_bytes=_stored_size(response))
        if code == 410:
            return ResumableStatus(state="expired", committed_bytes=0)
        if code in (404, 499):
            raise StorageNotFound("GCS resumable session not found (unknown or cancelled)")
        raise error_for_status("resumable status", code)

    def cancel(self, session_uri: str) -> None:
        """Cancel the session; an unknown, cancelled or expired one is fine."""
        _check_session_uri(session_uri)
        response = self._send(
            self._anonymous,
            "DELETE",
            session_uri,
            {"Content-Length": "0"},
            b"",
            "resumable cancel",
        )
        code = response.status_code
        if code not in (200, 204, 404, 410, 499):
            raise error_for_status("resumable cancel", code)
        log_event(
            logger,
            logging.DEBUG,
            "rindle.gcs.resumable.cancelled",
            upload_id=session_fingerprint(session_uri),
            status=code,
        )

    def _send(
        self,
        session: HTTPSession,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        operation: str,
    ) -> HTTPResponse:
        """Send, retrying transient failures within the budget.

        Returns the last answer (possibly a transient status, for the caller
        to map); raises :class:`~rindle_core.StorageUnavailable` when the
        last attempt failed in transport.
        """
        deadline = self._clock() + self._retry_timeout
        backoff = _FIRST_BACKOFF
        while True:
            outcome = self._attempt(session, method, url, headers, body, operation)
            if (
                not isinstance(outcome, StorageUnavailable)
                and outcome.status_code not in TRANSIENT_STATUSES
            ):
                return outcome
            pause = backoff * random.uniform(0.5, 1.0)  # jitter, not secrecy
            if self._clock() + pause > deadline:
                if isinstance(outcome, StorageUnavailable):
                    raise outcome from None
                return outcome
            self._sleep(pause)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _attempt(
        self,
        session: HTTPSession,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        operation: str,
    ) -> HTTPResponse | StorageUnavailable:
        """One request: its answer, or the transient failure it met."""
        try:
            return session.request(
                method,
                url,
                headers=headers,
                data=body,
                timeout=self._timeout,
                allow_redirects=False,
            )
        # Their messages may quote the URL: never chain or repeat them.
        except (requests.ConnectionError, requests.Timeout, auth_exceptions.TransportError) as exc:
            return StorageUnavailable(f"GCS {operation} failed: {type(exc).__name__}")
        except (requests.RequestException, auth_exceptions.GoogleAuthError) as exc:
            raise StorageError(f"GCS {operation} failed: {type(exc).__name__}") from None
        except OSError as exc:
            return StorageUnavailable(f"GCS {operation} failed: {type(exc).__name__}")

    def __repr__(self) -> str:
        return f"ResumableProtocol(upload_url={self._upload_url!r})"


def _committed(range_header: str | None) -> int:
    if not range_header:
        return 0  # a 308 without Range: nothing committed yet
    match = _RANGE.fullmatch(range_header.strip())
    if match is None:
        raise StorageError("GCS resumable status: malformed Range header")
    return int(match.group(1)) + 1


def _stored_size(response: HTTPResponse) -> int:
    stored = response.headers.get("X-Goog-Stored-Content-Length")
    if stored and stored.isdigit():
        return int(stored)
    try:
        size = json.loads(response.content or b"{}").get("size")
    except (ValueError, AttributeError):
        size = None
    if isinstance(size, str | int) and str(size).isdigit():
        return int(size)
    raise StorageError("GCS resumable status: complete, but the object size is missing")
