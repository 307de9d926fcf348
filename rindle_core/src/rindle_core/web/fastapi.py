"""Mount an :class:`~rindle_core.web.UploadAPI` in a FastAPI app, as a router.

Needs the ``fastapi`` extra::

    from fastapi import FastAPI
    from rindle_core.web.fastapi import router

    app = FastAPI()
    app.include_router(router(api), prefix="/api/uploads")

The router is one catch-all route below its prefix, so every answer
(unknown paths included) is rindle's, as a problem document where it is an
error. Its operations are described by rindle's own OpenAPI document at
``<prefix>/openapi.json``, not folded into FastAPI's. Broker work runs in a
worker thread, never on the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter

from ._api import UploadAPI
from .asgi import METHODS, endpoint

__all__ = ["router"]


def router(api: UploadAPI, *, prefix: str = "") -> APIRouter:
    """An ``APIRouter`` serving *api* below *prefix* (or the prefix it is included at)."""
    routes = APIRouter(prefix=prefix)
    routes.add_api_route(
        "/{path:path}",
        endpoint(api),
        methods=METHODS,
        include_in_schema=False,
        response_model=None,
    )
    return routes
