"""Who may do what: the actions, the host's ``authorize`` hook and how it denies.

The HTTP layer asks the hook once per request, before any broker call that
acts: ``authorize(request, action, profile, session)`` returns the caller's
owner id, or None (or raises :class:`Denied`) to refuse. rindle then acts
only on sessions whose owner is that id; a session of another owner is
answered exactly as a session that does not exist.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Literal, TypeAlias

from ..models import UploadSession
from ._http import Request

__all__ = ["Action", "Authorize", "Denied"]


class Action(enum.StrEnum):
    """What a request wants to do; compares equal to its string value."""

    INITIATE = "initiate"
    SIGN = "sign"
    COMPLETE = "complete"
    ABORT = "abort"
    STATUS = "status"
    DOWNLOAD = "download"


#: ``authorize(request, action, profile, session) -> owner id | None``.
#: *session* is None for ``initiate`` (nothing exists yet); *profile* is the
#: profile the upload is (or will be) in. Return the id of whom the caller
#: acts for (a user or tenant id: a non-empty single-line string of at most
#: 255 characters), or None to refuse with 403.
Authorize: TypeAlias = Callable[[Request, Action, str, UploadSession | None], str | None]


class Denied(Exception):
    """Raise from ``authorize`` to refuse with a message: 401 (not signed in) or 403.

    The *detail* is sent to the client: say what to do ("sign in"), never
    why a particular session is refused.
    """

    def __init__(self, detail: str = "not allowed", *, status: Literal[401, 403] = 403) -> None:
        if status not in (401, 403):
            raise ValueError("Denied status must be 401 or 403")
        super().__init__(detail)
        self.detail = detail
        self.status = status
