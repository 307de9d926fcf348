"""rindle's upload API in a Flask app, with a page where Uppy uploads to storage.

The guide *Add uploads to your Flask app* (``docs/guides/flask.md``) walks
through this file. Run it from this directory::

    pip install "rindle-core[flask,cli]"
    rindle db upgrade
    flask --app "app:create_app()" run --port 5000

and open http://127.0.0.1:5000/. The configuration is ``rindle.toml`` (or
the file ``$RINDLE_CONFIG`` names): SQLite and local disk, whose receiver
this app mounts at ``/files``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import rindle_core.web
from rindle_core import Broker, UploadSession
from rindle_core.config import load_broker
from rindle_core.local import LocalStorage, UploadReceiver
from rindle_core.web import Action, Denied, Request, UploadAPI
from rindle_core.web.flask import blueprint

HERE = Path(__file__).resolve().parent
#: The Uppy bundle rindle ships (Uppy core, AWS S3 plugin, Dashboard): no JavaScript build.
UPPY = Path(rindle_core.web.__file__).parent / "static" / "uppy"


# --8<-- [start:authorize]
#: The profiles a signed-in user may upload to (your app's permission model decides).
UPLOAD_PROFILES = frozenset({"uploads"})


def authorize(
    request: Request, action: Action, profile: str, session: UploadSession | None
) -> str | None:
    """The caller's owner id, stored with each upload and required for every later
    call on it; None refuses (403). Called before rindle does anything."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Denied("cross-site requests are refused")  # the cookie alone proves nothing
    user_id = flask.session.get("user_id")  # what the app's login stored
    if not isinstance(user_id, str) or not user_id:
        raise Denied("sign in first", status=401)
    if profile not in UPLOAD_PROFILES:
        return None
    return user_id  # stable and unique: the account's id, never a name or an email


# --8<-- [end:authorize]


def create_app(config: Path | str | None = None) -> flask.Flask:
    """The app on the rindle configuration *config* (default: ``$RINDLE_CONFIG``,
    else ``rindle.toml`` next to this file)."""
    # --8<-- [start:broker]
    broker = load_broker(config or os.environ.get("RINDLE_CONFIG") or HERE / "rindle.toml")
    api = UploadAPI(broker, authorize=authorize, profiles=["uploads"])
    # --8<-- [end:broker]

    # --8<-- [start:mount]
    app = flask.Flask(__name__)
    app.secret_key = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
    app.register_blueprint(blueprint(api), url_prefix="/api/uploads")
    # --8<-- [end:mount]

    # --8<-- [start:page]
    @app.get("/uppy/<path:name>")
    def uppy(name: str) -> flask.Response:
        return flask.send_from_directory(UPPY, name)

    @app.get("/")
    def page() -> flask.Response:
        # DEMO ONLY: every visitor is signed in as a new user. Use your app's login.
        flask.session.setdefault("user_id", secrets.token_hex(8))
        return flask.send_from_directory(HERE / "static", "index.html")

    # --8<-- [end:page]
    # --8<-- [start:receiver]
    # Local storage: its receiver takes the uploads inside this app, where its
    # base_url points (same origin as the page: no CORS to configure).
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, local_receivers(broker))
    # --8<-- [end:receiver]
    return app


def local_receivers(broker: Broker) -> dict[str, UploadReceiver]:
    """Each local storage's receiver, by the path of its ``base_url`` in this app."""
    receivers = {}
    for storage in broker.storages.values():
        if isinstance(storage, LocalStorage) and storage.base_url:
            receivers[urlsplit(storage.base_url).path] = storage.receiver()
    return receivers
