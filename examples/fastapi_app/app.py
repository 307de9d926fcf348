"""rindle's upload API in a FastAPI app, on the embedded defaults (SQLite, local disk).

Run it from this directory (the local backend's receiver listens on its own
port, 8001, and lets the app's origin upload from a browser)::

    pip install "rindle-core[fastapi]"
    uvicorn --factory app:create_app --port 8000

The API is at ``/api/uploads`` (``/api/uploads/openapi.json`` describes it);
Uppy's ``companionEndpoint`` is ``/api/uploads``. The ``authorize`` hook
below trusts an ``X-User`` header: a demo only, replace it with your app's
authentication (see *Upload API* in the docs).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from rindle_core import Broker, Database, Profile, UploadSession
from rindle_core.local import LocalStorage, serve_receiver
from rindle_core.web import Action, Request, UploadAPI
from rindle_core.web.fastapi import router


def authorize(
    request: Request, action: Action, profile: str, session: UploadSession | None
) -> str | None:
    """The caller's user id, or None to refuse. DEMO ONLY: it trusts a header."""
    return request.headers.get("x-user") or None


def create_app(
    data: Path | str | None = None,
    *,
    app_origin: str | None = None,
    receiver_port: int | None = None,
) -> FastAPI:
    """The app: uploads in ``<data>/objects``, their records in ``<data>/rindle.db``.

    Defaults come from ``EXAMPLE_DATA`` (``var``), ``EXAMPLE_ORIGIN`` (the
    page's origin, ``http://127.0.0.1:8000``) and ``EXAMPLE_RECEIVER_PORT`` (8001).
    """
    root = Path(data or os.environ.get("EXAMPLE_DATA", "var"))
    root.mkdir(parents=True, exist_ok=True)
    origin = app_origin or os.environ.get("EXAMPLE_ORIGIN", "http://127.0.0.1:8000")
    if receiver_port is None:
        receiver_port = int(os.environ.get("EXAMPLE_RECEIVER_PORT", "8001"))
    receiver = serve_receiver(root / "objects", port=receiver_port, allow_origins=[origin])
    database = Database(f"sqlite:///{root / 'rindle.db'}")
    database.upgrade()
    broker = Broker(
        database,
        profiles=[Profile(name="uploads", storage="local", max_bytes=100 * 1024 * 1024)],
        storages={"local": LocalStorage(root / "objects", base_url=receiver.url)},
        job_mode="inline",
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        broker.close()
        receiver.close()

    app = FastAPI(title="rindle example", lifespan=lifespan)
    app.include_router(router(UploadAPI(broker, authorize=authorize)), prefix="/api/uploads")
    return app
