"""rindle's upload API in a FastAPI app, with a page where Uppy uploads to storage.

The guide *Add uploads to your FastAPI app* (``docs/guides/fastapi.md``)
walks through this file. Run it from this directory::

    pip install "rindle-core[fastapi,cli]" itsdangerous
    rindle db upgrade
    uvicorn --factory app:create_app --port 8000

and open http://127.0.0.1:8000/. The configuration is ``rindle.toml`` (or
the file ``$RINDLE_CONFIG`` names): SQLite and local disk, whose receiver
this app serves on port 8001 in development.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request as StarletteRequest
from starlette.staticfiles import StaticFiles

import rindle_core.web
from rindle_core import Broker, UploadSession
from rindle_core.config import load_broker
from rindle_core.local import LocalStorage, ReceiverServer
from rindle_core.web import Action, Denied, Request, UploadAPI
from rindle_core.web.fastapi import router

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
    user_id = signed_in_user(request.native)
    if user_id is None:
        raise Denied("sign in first", status=401)
    if profile not in UPLOAD_PROFILES:
        return None
    return user_id  # stable and unique: the account's id, never a name or an email


def signed_in_user(native: object) -> str | None:
    """The user id the app's login put in the session cookie (SessionMiddleware)."""
    if not isinstance(native, StarletteRequest):
        return None
    user_id = native.session.get("user_id")
    return user_id if isinstance(user_id, str) and user_id else None


# --8<-- [end:authorize]


def create_app(config: Path | str | None = None) -> FastAPI:
    """The app on the rindle configuration *config* (default: ``$RINDLE_CONFIG``,
    else ``rindle.toml`` next to this file)."""
    # --8<-- [start:broker]
    broker = load_broker(config or os.environ.get("RINDLE_CONFIG") or HERE / "rindle.toml")
    api = UploadAPI(broker, authorize=authorize, profiles=["uploads"])
    # --8<-- [end:broker]
    origin = os.environ.get("APP_ORIGIN", "http://127.0.0.1:8000")
    receivers = serve_local_receivers(broker, allow_origin=origin)

    # --8<-- [start:mount]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for receiver in receivers:
            receiver.close()
        broker.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(router(api), prefix="/api/uploads")
    # --8<-- [end:mount]
    # --8<-- [start:page]
    app.mount("/uppy", StaticFiles(directory=UPPY), name="uppy")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def page(request: StarletteRequest) -> FileResponse:
        # DEMO ONLY: every visitor is signed in as a new user. Use your app's login.
        request.session.setdefault("user_id", secrets.token_hex(8))
        return FileResponse(HERE / "static" / "index.html")

    # --8<-- [end:page]
    secret_key = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
    app.add_middleware(SessionMiddleware, secret_key=secret_key, same_site="lax")
    return app


# --8<-- [start:receiver]
def serve_local_receivers(broker: Broker, *, allow_origin: str) -> list[ReceiverServer]:
    """DEVELOPMENT ONLY: serve each local storage's receiver where its ``base_url``
    points, taking uploads from the page's origin. (In production the browser
    uploads to S3 or GCS, or the receiver is mounted in a real server.)"""
    servers = []
    for storage in broker.storages.values():
        if isinstance(storage, LocalStorage) and storage.base_url:
            where = urlsplit(storage.base_url)
            receiver = storage.receiver(allow_origins=[allow_origin])
            servers.append(ReceiverServer(receiver, where.hostname or "", where.port or 80))
    return servers


# --8<-- [end:receiver]
