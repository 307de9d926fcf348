"""rindle's HTTP face: an upload API that browsers (and Uppy) drive, for any framework.

:class:`UploadAPI` is framework-neutral and needs nothing beyond rindle
itself: it turns a :class:`Request` into a :class:`Response` through the
broker. Each mount is a thin module that imports its framework only when
it is imported::

    from rindle_core.web import UploadAPI
    api = UploadAPI(broker, authorize=authorize)

    from rindle_core.web.asgi import create_app      # Starlette (any ASGI server)
    from rindle_core.web.fastapi import router       # FastAPI: app.include_router(router(api))
    from rindle_core.web.wsgi import create_app      # any WSGI server
    from rindle_core.web.flask import blueprint      # Flask: app.register_blueprint(...)

Routes, JSON shapes, problem types and the ``authorize`` hook's duties are
in the docs (*Upload API*).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rindle_core._lazy import lazy_exports

if TYPE_CHECKING:
    from ._access import Action, Authorize, Denied
    from ._api import DEFAULT_MAX_BODY, UploadAPI
    from ._http import Headers, Request, Response
    from ._problems import ERROR_PROBLEMS, ProblemType
    from ._routes import QueryParam, Route

__all__ = [
    "DEFAULT_MAX_BODY",
    "ERROR_PROBLEMS",
    "Action",
    "Authorize",
    "Denied",
    "Headers",
    "ProblemType",
    "QueryParam",
    "Request",
    "Response",
    "Route",
    "UploadAPI",
]

#: Where each public name lives: imported on first use, so a module that
#: needs one piece (``rindle upload`` reads a session's shape from
#: ``_shapes``) does not load the routes and handlers (ADR 0119).
_LAZY = {
    "Action": "._access",
    "Authorize": "._access",
    "Denied": "._access",
    "DEFAULT_MAX_BODY": "._api",
    "UploadAPI": "._api",
    "Headers": "._http",
    "Request": "._http",
    "Response": "._http",
    "ERROR_PROBLEMS": "._problems",
    "ProblemType": "._problems",
    "QueryParam": "._routes",
    "Route": "._routes",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
