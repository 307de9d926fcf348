"""Who the demo's visitor is: one random owner per server process, proven by a cookie.

This is a demo, not an authentication scheme: whoever opens the page gets the
cookie and acts as the demo owner. The cookie is ``HttpOnly`` and
``SameSite=Strict`` (another site's page cannot send it), and requests a
browser marks as cross-site are refused as well. Stdlib only.
"""

from __future__ import annotations

import hmac
import secrets
from http.cookies import CookieError, SimpleCookie
from typing import Final

from ...models import UploadSession
from .._access import Action, Denied
from .._http import Request

__all__ = ["COOKIE", "DemoAccess"]

#: The cookie's name.
COOKIE: Final = "rindle_demo"


class DemoAccess:
    """The demo's ``authorize`` hook and the cookie its page hands out.

    :attr:`owner` is the owner id every upload of this process is stored
    with (``demo-`` and 8 hex digits: ``rindle sessions list --owner`` finds
    them); the cookie carries a separate random token, never shown.
    """

    def __init__(self) -> None:
        self.owner: Final = f"demo-{secrets.token_hex(4)}"
        self._token = secrets.token_urlsafe(32)

    def __repr__(self) -> str:
        return f"DemoAccess(owner={self.owner!r})"

    def set_cookie(self) -> str:
        """The ``Set-Cookie`` value the page's answer carries."""
        return f"{COOKIE}={self._token}; Path=/; HttpOnly; SameSite=Strict"

    def admits(self, cookie: str | None) -> bool:
        """True when *cookie* (a ``Cookie`` header's value) holds this demo's token."""
        if not cookie:
            return False
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except CookieError:
            return False
        morsel = jar.get(COOKIE)
        return morsel is not None and hmac.compare_digest(
            morsel.value.encode(), self._token.encode()
        )

    def authorize(
        self, request: Request, action: Action, profile: str, session: UploadSession | None
    ) -> str:
        """The hook: the demo owner for a same-site request with the cookie, else refused."""
        if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
            raise Denied("cross-site requests are refused")
        if not self.admits(request.headers.get("cookie")):
            raise Denied("open the demo page first: it gives this browser its cookie", status=401)
        return self.owner
