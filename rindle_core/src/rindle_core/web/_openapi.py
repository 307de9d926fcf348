"""The OpenAPI 3.1 document, generated from the route table and the shapes' schemas."""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Final

from ._http import JSON, PROBLEM_JSON
from ._shapes import SCHEMAS, ref

if TYPE_CHECKING:
    from ._routes import QueryParam, Route

__all__ = ["document"]

_DESCRIPTION: Final = (
    "rindle's upload API: its own JSON routes under /uploads and the routes "
    "@uppy/aws-s3 6.x calls under /s3 (companionEndpoint). Every request is "
    "authorized by the host's authorize hook, and acts only on the caller's own "
    "sessions. Errors are application/problem+json (RFC 9457)."
)
_ID: Final = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_PATH_PARAMS: Final[dict[str, dict[str, object]]] = {
    "session_id": {"description": "the upload session's id", "schema": _ID},
    "upload_id": {"description": "Uppy's uploadId: the upload session's id", "schema": _ID},
    "part_number": {
        "description": "the part's number, from 1",
        "schema": {"type": "integer", "minimum": 1},
    },
    "profile": {"description": "the profile's name", "schema": {"type": "string"}},
}


def _version() -> str:
    try:
        return metadata.version("rindle-core")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0"


def _query(param: QueryParam) -> dict[str, object]:
    schema: dict[str, object] = {"type": "string"}
    if param.enum:
        schema["enum"] = list(param.enum)
    out: dict[str, object] = {
        "name": param.name,
        "in": "query",
        "required": param.required,
        "description": param.description,
        "schema": schema,
    }
    if param.deep_object:
        out.update(
            style="deepObject",
            explode=True,
            schema={"type": "object", "additionalProperties": {"type": "string"}},
        )
    return out


def _operation(route: Route) -> dict[str, object]:
    parameters: list[dict[str, object]] = [
        {"name": name, "in": "path", "required": True, **_PATH_PARAMS[name]}
        for name in re.findall(r"\{(\w+)\}", route.pattern)
    ]
    parameters += [_query(param) for param in route.query]
    success: dict[str, object] = {"description": route.summary}
    if route.response is not None:
        success["content"] = {JSON: {"schema": ref(route.response)}}
    elif route.success != 204:
        success["content"] = {JSON: {"schema": {"type": "object"}}}
    responses: dict[str, object] = {str(route.success): success}
    for status in sorted(route.problems):
        responses[str(status)] = {"$ref": "#/components/responses/Problem"}
    operation: dict[str, object] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None:
        operation["requestBody"] = {
            "required": not route.request_optional,
            "content": {JSON: {"schema": ref(route.request)}},
        }
    if route.action is not None:
        operation["x-rindle-action"] = route.action.value
    return operation


def document(routes: Sequence[Route], *, root: str = "") -> dict[str, object]:
    """The OpenAPI 3.1 document of *routes*, served from the mount point *root*."""
    paths: dict[str, dict[str, object]] = {}
    for route in routes:
        paths.setdefault(route.pattern, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "rindle upload API", "version": _version(), "description": _DESCRIPTION},
        "servers": [{"url": root or "/"}],
        "tags": [
            {"name": "rindle", "description": "rindle's own JSON routes"},
            {"name": "uppy", "description": "the routes @uppy/aws-s3 6.x calls"},
        ],
        "paths": paths,
        "components": {
            "schemas": {name: dict(schema) for name, schema in SCHEMAS.items()},
            "responses": {
                "Problem": {
                    "description": "A problem (RFC 9457); see 'type' for what it means.",
                    "content": {PROBLEM_JSON: {"schema": ref("Problem")}},
                }
            },
        },
    }
