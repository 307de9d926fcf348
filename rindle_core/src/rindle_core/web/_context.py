"""One request being handled: its inputs read and checked, its caller authorized.

Handlers ask a :class:`Call` for what they need (a JSON field, a query
parameter, the caller's session) and get it checked, or an exception the
API turns into a problem response: :class:`~rindle_core.InvalidArgument`
for a wrong field, :class:`HTTPProblem` for a body that is not JSON, and
:class:`~rindle_core.SessionNotFound` for a session the caller does not own.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from .._broker import Broker
from .._errors import InvalidArgument, SessionNotFound, UnknownProfile
from ..models import UploadSession
from . import _problems as problems
from ._access import Action, Authorize, Denied
from ._http import Request
from ._problems import HTTPProblem

__all__ = ["Call", "Settings"]

#: What the default (missing) hook answers, so the developer knows what to do.
NO_HOOK: Final = (
    "no authorize hook is configured, so every request is refused: give the upload "
    "API a function that returns the caller's owner id (UploadAPI(broker, authorize=...), "
    "or RINDLE['AUTHORIZE'] in Django; see 'Security' in docs/web.md)"
)


@dataclass(frozen=True, slots=True)
class Settings:
    """What every request of one :class:`UploadAPI` shares."""

    broker: Broker
    authorize: Authorize | None
    profiles: frozenset[str]
    uppy_profile: str | None


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class Call:
    """The request being handled, with checked accessors for its inputs."""

    def __init__(self, settings: Settings, request: Request, params: Mapping[str, str]) -> None:
        self.settings = settings
        self.request = request
        self.params = params

    @property
    def broker(self) -> Broker:
        return self.settings.broker

    def url(self, path: str) -> str:
        """*path* (below the mount point) as an absolute path on this server."""
        return f"{self.request.root}{path}"

    # -- the body -------------------------------------------------------------------

    def body(self, *, optional: bool = False) -> dict[str, object]:
        """The body as a JSON object (``{}`` for an empty *optional* one)."""
        raw = self.request.body
        if not raw.strip() and optional:
            return {}
        if self.request.content_type != "application/json":
            raise HTTPProblem(
                problems.UNSUPPORTED_MEDIA_TYPE, "send the body as Content-Type: application/json"
            )
        try:
            value = json.loads(raw, parse_constant=_no_constants)
        except (ValueError, RecursionError):
            raise HTTPProblem(problems.MALFORMED_REQUEST, "the body is not valid JSON") from None
        if not isinstance(value, dict):
            raise HTTPProblem(problems.MALFORMED_REQUEST, "the body must be a JSON object")
        return value

    @staticmethod
    def only(body: Mapping[str, object], allowed: Collection[str]) -> None:
        """Refuse fields the operation does not take (a typo must not pass silently)."""
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            shown = ", ".join(repr(name[:40]) for name in unknown[:5])
            raise InvalidArgument(f"unknown field(s) {shown}")

    @staticmethod
    def text(body: Mapping[str, object], name: str) -> str:
        """Required string field *name*."""
        value = body.get(name)
        if not isinstance(value, str):
            raise InvalidArgument(f"{name!r} must be a string")
        return value

    @staticmethod
    def optional_text(body: Mapping[str, object], name: str) -> str | None:
        """Optional string field *name* (``null`` or absent: None)."""
        return None if body.get(name) is None else Call.text(body, name)

    @staticmethod
    def integer(body: Mapping[str, object], name: str) -> int | None:
        """Optional integer field *name* (``null`` or absent: None)."""
        value = body.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{name!r} must be an integer")
        return value

    @staticmethod
    def mapping(body: Mapping[str, object], name: str) -> Mapping[str, object] | None:
        """Optional JSON object field *name*."""
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise InvalidArgument(f"{name!r} must be a JSON object")
        return value

    # -- the query --------------------------------------------------------------------

    def query(self, name: str) -> str:
        """Required query parameter *name*."""
        value = self.request.query_value(name)
        if value is None:
            raise InvalidArgument(f"the query parameter {name!r} is required")
        return value

    # -- who the caller is ------------------------------------------------------------

    def profile(self, name: object) -> str:
        """*name* if it is a profile this API exposes (else :class:`UnknownProfile`)."""
        if not isinstance(name, str):
            raise InvalidArgument("'profile' must be a string")
        if name not in self.settings.profiles:
            raise UnknownProfile(name[:80])
        return name

    def owner(self, action: Action, profile: str) -> str:
        """Authorize *action* on a new upload in *profile*: the caller's owner id."""
        return self._authorize(action, profile, None)

    def session(self, action: Action, session_id: str) -> UploadSession:
        """The session *session_id*, once the caller may do *action* on it.

        A session in a profile this API does not expose, or of another owner,
        is :class:`SessionNotFound`, exactly as one that does not exist.
        """
        session = self.broker.get_session(session_id)
        if session.profile not in self.settings.profiles:
            raise SessionNotFound(session_id)
        owner = self._authorize(action, session.profile, session)
        if session.owner is None or owner != session.owner:
            raise SessionNotFound(session_id)
        return session

    def _authorize(self, action: Action, profile: str, session: UploadSession | None) -> str:
        hook = self.settings.authorize
        if hook is None:
            raise HTTPProblem(problems.AUTHORIZATION_NOT_CONFIGURED, NO_HOOK)
        try:
            owner = hook(self.request, action, profile, session)
        except Denied as denied:
            refused = problems.UNAUTHORIZED if denied.status == 401 else problems.FORBIDDEN
            raise HTTPProblem(refused, denied.detail) from None
        if owner is None:
            raise HTTPProblem(problems.FORBIDDEN, f"not allowed to {action.value} this upload")
        if not isinstance(owner, str) or not owner.strip():
            # The host's bug, not the client's: answered as an internal error.
            raise TypeError("authorize must return a non-empty owner id string or None")
        return owner
