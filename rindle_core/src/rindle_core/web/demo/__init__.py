"""``rindle serve``'s demo: the upload API, the local receivers and a page, in one ASGI app.

Needs the ``web`` extra (Starlette, uvicorn). The page uploads with Uppy
(the bundle in ``rindle_core/web/static/uppy``) and shows each session's
state transitions live, from an observer plugin (:class:`TransitionLog`)
over Server-Sent Events. Who may upload is a demo's answer, not an
authentication scheme: one random owner per process, whose cookie the page
hands to whoever opens it (:class:`DemoAccess`).
"""

from __future__ import annotations

from ._access import COOKIE, DemoAccess
from ._app import API_PREFIX, UPPY_DIR, UPPY_PREFIX, create_app, receiver_path
from ._bridge import WSGIBridge
from ._events import Transition, TransitionLog
from ._server import run

__all__ = [
    "API_PREFIX",
    "COOKIE",
    "UPPY_DIR",
    "UPPY_PREFIX",
    "DemoAccess",
    "Transition",
    "TransitionLog",
    "WSGIBridge",
    "create_app",
    "receiver_path",
    "run",
]
