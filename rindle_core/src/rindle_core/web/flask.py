"""Mount an :class:`~rindle_core.web.UploadAPI` in a Flask app, as a blueprint.

Needs the ``flask`` extra::

    from flask import Flask
    from rindle_core.web.flask import blueprint

    app = Flask(__name__)
    app.register_blueprint(blueprint(api), url_prefix="/api/uploads")

The ``authorize`` hook runs inside Flask's request context, so it may read
``flask.request``, ``flask.session`` or ``flask.g`` directly (the neutral
request's ``native`` is ``flask.request`` too). OPTIONS stays Flask's
(and flask-cors's, when the page is on another origin).
"""

from __future__ import annotations

from typing import Final

import flask

from ._api import UploadAPI
from ._http import Headers, Request, Response, parse_query

__all__ = ["blueprint"]

_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def blueprint(
    api: UploadAPI, *, name: str = "rindle", url_prefix: str | None = None
) -> flask.Blueprint:
    """A blueprint serving *api*; register it at the prefix the API should live under."""
    routes = flask.Blueprint(name, __name__, url_prefix=url_prefix)

    def view(path: str) -> flask.Response:
        request = flask.request
        length = request.content_length
        if length is not None and length > api.max_body:
            return _flask(api.payload_too_large())
        body = request.stream.read(api.max_body + 1)
        sub = "/" + path
        root = request.path[: len(request.path) - len(sub)] if request.path.endswith(sub) else ""
        neutral = Request(
            method=request.method,
            path=sub,
            query=parse_query(request.query_string),
            headers=Headers(request.headers.items()),
            body=body,
            root=request.script_root + root,
            native=request,
        )
        return _flask(api.handle(neutral))

    routes.add_url_rule("/", "api_root", view, defaults={"path": ""}, methods=_METHODS)
    routes.add_url_rule("/<path:path>", "api", view, methods=_METHODS)
    return routes


def _flask(response: Response) -> flask.Response:
    return flask.Response(response.body, status=response.status, headers=list(response.headers))
