"""rindle's upload API in a Flask app, on the embedded defaults (SQLite, local disk).

Run it from this directory (the local backend's receiver is mounted in the
same app, at ``/files``, so the browser uploads to the page's own origin)::

    pip install "rindle-core[flask]"
    flask --app "app:create_app()" run --port 5000

The API is at ``/api/uploads`` (``/api/uploads/openapi.json`` describes it);
Uppy's ``companionEndpoint`` is ``/api/uploads``. The ``authorize`` hook
below reads the user from Flask's session: log a user in with your own
views (see *Upload API* in the docs for what the hook must check).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from rindle_core import Broker, Database, Profile, UploadSession
from rindle_core.local import LocalStorage
from rindle_core.web import Action, Request, UploadAPI
from rindle_core.web.flask import blueprint


def authorize(
    request: Request, action: Action, profile: str, session: UploadSession | None
) -> str | None:
    """The signed-in user's id (Flask's signed session cookie), or None to refuse."""
    user = flask.session.get("user")
    return user if isinstance(user, str) and user else None


def create_app(data: Path | str | None = None, *, public_url: str | None = None) -> flask.Flask:
    """The app: uploads in ``<data>/objects``, their records in ``<data>/rindle.db``.

    Defaults come from ``EXAMPLE_DATA`` (``var``) and ``EXAMPLE_URL`` (where
    the browser reaches the app, ``http://127.0.0.1:5000``).
    """
    root = Path(data or os.environ.get("EXAMPLE_DATA", "var"))
    root.mkdir(parents=True, exist_ok=True)
    public_url = public_url or os.environ.get("EXAMPLE_URL", "http://127.0.0.1:5000")
    database = Database(f"sqlite:///{root / 'rindle.db'}")
    database.upgrade()
    storage = LocalStorage(root / "objects", base_url=f"{public_url}/files")
    broker = Broker(
        database,
        profiles=[Profile(name="uploads", storage="local", max_bytes=100 * 1024 * 1024)],
        storages={"local": storage},
        job_mode="inline",
    )

    app = flask.Flask(__name__)
    app.secret_key = os.environ.get("EXAMPLE_SECRET_KEY") or secrets.token_hex(32)
    app.register_blueprint(
        blueprint(UploadAPI(broker, authorize=authorize)), url_prefix="/api/uploads"
    )

    @app.post("/login/<name>")
    def login(name: str) -> dict[str, str]:
        """DEMO ONLY: signs anyone in as *name*. Use your app's real login."""
        flask.session["user"] = name
        return {"user": name}

    # The receiver takes the signed uploads (and serves signed downloads) at /files.
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/files": storage.receiver()})
    return app
