"""Helpers of the upload API's tests: one client per mount, and the contract check.

Every mount is reached at :data:`PREFIX` through its framework's own test
client (Starlette's and FastAPI's ``TestClient``, werkzeug's ``Client`` for
the WSGI app, Flask's ``test_client``), or, for ``neutral``, by calling
:meth:`UploadAPI.handle` directly.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import attrs
import jsonschema

from rindle_core.testing import assert_no_secrets
from rindle_core.web import Headers, Request, Response, UploadAPI
from rindle_core.web._openapi import document
from rindle_core.web._routes import ROUTES

#: The calls the test hook saw: (action, profile, session id or None).
AuthorizeLog = list[tuple[str, str, str | None]]

with warnings.catch_warnings():
    # Starlette 1.x prefers `httpx2` for its test client; `httpx` still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient as FastAPITestClient
    from starlette.testclient import TestClient as StarletteTestClient

MOUNTS = ("neutral", "starlette", "fastapi", "wsgi", "flask")
PREFIX = "/api/uploads"
PROBLEM = "application/problem+json"


@attrs.frozen
class Result:
    """One answer, whichever client got it."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class Mounted:
    """The API through one mount: ``request(method, path, ...)`` with *path* below the prefix."""

    def __init__(self, name: str, api: UploadAPI, send: Any) -> None:
        self.name = name
        self.api = api
        self._send = send

    def request(
        self,
        method: str,
        path: str,
        *,
        user: str | None = "alice",
        json_body: object = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Sequence[tuple[str, str]] = (),
    ) -> Result:
        sent = dict(headers or {})
        if user is not None:
            sent["X-User"] = user
        body = content or b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        return self._send(method, path, list(query), sent, body)

    def get(self, path: str, **kw: Any) -> Result:
        return self.request("GET", path, **kw)

    def post(self, path: str, json_body: object = None, **kw: Any) -> Result:
        return self.request("POST", path, json_body=json_body, **kw)

    def delete(self, path: str, **kw: Any) -> Result:
        return self.request("DELETE", path, **kw)


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@contextlib.contextmanager
def mount(name: str, api: UploadAPI) -> Iterator[Mounted]:
    """The API behind mount *name*, with its framework's test client."""
    if name == "neutral":

        def send_neutral(method: str, path: str, query: list, headers: dict, body: bytes) -> Result:
            answer = api.handle(
                Request(method, path, tuple(query), Headers(headers), body, root=PREFIX)
            )
            return Result(answer.status, _lower(dict(answer.headers)), answer.body)

        yield Mounted(name, api, send_neutral)
    elif name in ("starlette", "fastapi"):
        test_client = StarletteTestClient if name == "starlette" else FastAPITestClient
        with test_client(_asgi_app(name, api)) as http:

            def send_asgi(
                method: str, path: str, query: list, headers: dict, body: bytes
            ) -> Result:
                answer = http.request(
                    method, PREFIX + path, params=query, headers=headers, content=body
                )
                return Result(answer.status_code, _lower(answer.headers), answer.content)

            yield Mounted(name, api, send_asgi)
    else:
        client = _wsgi_client(name, api)

        def send_wsgi(method: str, path: str, query: list, headers: dict, body: bytes) -> Result:
            answer = client.open(
                PREFIX + path,
                method=method,
                query_string=urlencode(query),
                headers=headers,
                data=body,
            )
            return Result(answer.status_code, _lower(answer.headers), answer.get_data())

        yield Mounted(name, api, send_wsgi)


def _asgi_app(name: str, api: UploadAPI) -> Any:
    if name == "starlette":
        from starlette.applications import Starlette
        from starlette.routing import Mount

        from rindle_core.web.asgi import create_app

        return Starlette(routes=[Mount(PREFIX, app=create_app(api))])
    from fastapi import FastAPI

    from rindle_core.web.fastapi import router

    app = FastAPI()
    app.include_router(router(api), prefix=PREFIX)
    return app


def _wsgi_client(name: str, api: UploadAPI) -> Any:
    from werkzeug.test import Client

    if name == "wsgi":
        from werkzeug.exceptions import NotFound
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        from rindle_core.web.wsgi import create_app

        return Client(DispatcherMiddleware(NotFound(), {PREFIX: create_app(api)}))
    from flask import Flask

    from rindle_core.web.flask import blueprint

    app = Flask("rindle_web_test")
    app.register_blueprint(blueprint(api), url_prefix=PREFIX)
    return app.test_client()


# -- the contract check ------------------------------------------------------------------

_DOCUMENT = document(ROUTES)


def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _DOCUMENT["components"]}
    return jsonschema.Draft202012Validator(schema)


class ContractCheck:
    """Wraps :meth:`UploadAPI.handle`: every answer must be a documented status of
    its route, its body must match the documented schema, and a problem must be
    ``application/problem+json`` showing nothing credential-looking."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.seen: set[tuple[str, int]] = set()

    def watch(self, api: UploadAPI) -> UploadAPI:
        handle = api.handle

        def checked(request: Request) -> Response:
            response = handle(request)
            self.check(api, request, response)
            return response

        api.handle = checked
        return api

    def check(self, api: UploadAPI, request: Request, response: Response) -> None:
        route = api.route_for(request)
        where = f"{request.method} {request.path} -> {response.status}"
        body = response.json() if response.body else None
        if response.status >= 400:
            if response.header("content-type") != PROBLEM:
                self.failures.append(f"{where}: not application/problem+json")
            self._validate("Problem", body, where)
            assert_no_secrets(response.body.decode(), [], what=f"problem of {where}")
        if route is None:
            return
        self.seen.add((route.operation_id, response.status))
        if response.status == route.success:
            if route.response is not None:
                self._validate(route.response, body, where)
        elif response.status not in route.problems:
            self.failures.append(f"{where}: status not documented for {route.operation_id}")

    def _validate(self, schema: str, body: object, where: str) -> None:
        errors = sorted(_validator(schema).iter_errors(body), key=str)
        if errors:
            self.failures.append(f"{where}: body is not a {schema}: {errors[0].message}")

    def assert_clean(self) -> None:
        assert not self.failures, "\n".join(self.failures)
