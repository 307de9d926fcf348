"""The route table: every operation's method, path, handler and documented contract.

The OpenAPI document is generated from this table (``_openapi``), and
:meth:`UploadAPI.handle` dispatches through it, so the two cannot disagree.
Paths are below the mount point; ``{name}`` matches one path segment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from . import _own as own
from . import _uppy as uppy
from ._access import Action
from ._context import Call
from ._http import Response, json_response
from ._openapi import document

__all__ = ["ROUTES", "QueryParam", "Route", "match"]

Handler = Callable[[Call], Response]

#: Problems any operation may answer: a bad argument, not authenticated or not
#: allowed, a body over the limit, an internal error, storage or database unavailable.
COMMON_PROBLEMS: Final = frozenset({400, 401, 403, 413, 500, 503})


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A query parameter an operation reads."""

    name: str
    description: str
    required: bool = False
    enum: tuple[str, ...] = ()
    #: ``metadata[name]=value`` pairs (OpenAPI ``deepObject``).
    deep_object: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: where it is, what it does, and what it may answer."""

    method: str
    pattern: str
    operation_id: str
    summary: str
    handler: Handler = field(repr=False)
    tag: Literal["rindle", "uppy"]
    #: The action the ``authorize`` hook is asked about (None: no authorization).
    action: Action | None
    success: int = 200
    #: The component schema of the success body (None: no body).
    response: str | None = None
    #: The component schema of the JSON request body (None: no body).
    request: str | None = None
    request_optional: bool = False
    query: tuple[QueryParam, ...] = ()
    #: Statuses of the problems this operation may answer, beyond the common ones.
    extra_problems: frozenset[int] = frozenset()
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern)
        object.__setattr__(self, "regex", re.compile(pattern))

    @property
    def problems(self) -> frozenset[int]:
        """Every problem status the operation may answer."""
        if self.action is None:
            return frozenset({500})
        body = {415} if self.request is not None else set()
        return COMMON_PROBLEMS | body | self.extra_problems


def _route(
    method: str,
    pattern: str,
    operation_id: str,
    summary: str,
    handler: Handler,
    *,
    action: Action | None,
    tag: Literal["rindle", "uppy"] = "rindle",
    problems: tuple[int, ...] = (),
    success: int = 200,
    response: str | None = None,
    request: str | None = None,
    request_optional: bool = False,
    query: tuple[QueryParam, ...] = (),
) -> Route:
    return Route(
        method=method,
        pattern=pattern,
        operation_id=operation_id,
        summary=summary,
        handler=handler,
        tag=tag,
        action=action,
        success=success,
        response=response,
        request=request,
        request_optional=request_optional,
        query=query,
        extra_problems=frozenset(problems),
    )


_KEY: Final = QueryParam("key", "the storage key Uppy was given with the uploadId", required=True)
#: Answers about one session: it may not exist (or not be the caller's).
_SESSION: Final = (404,)
#: Storage calls: the remote upload may be gone (409), the backend may refuse (502).
_STORAGE: Final = (409, 502)


def _openapi(call: Call) -> Response:
    return json_response(200, document(ROUTES, root=call.request.root))


ROUTES: Final[tuple[Route, ...]] = (
    _route(
        "GET", "/openapi.json", "getOpenAPI", "This API's OpenAPI 3.1 document.", _openapi,
        action=None, response=None,
    ),
    # -- rindle's own API ----------------------------------------------------------------
    _route(
        "GET", "/profiles/{profile}", "getProfile",
        "What an upload in this profile may be, and how it may go.", own.profile,
        action=Action.INITIATE, response="Profile", problems=(404,),
    ),
    _route(
        "POST", "/uploads", "initiateUpload",
        "Open an upload session (and sign a single PUT or POST at once).",
        own.initiate, action=Action.INITIATE, success=201, response="Initiated",
        request="InitiateRequest", problems=(404, 422, 502),
    ),
    _route(
        "GET", "/uploads/{session_id}", "getUpload", "The session and its asset.", own.status,
        action=Action.STATUS, response="Status", problems=_SESSION,
    ),
    _route(
        "DELETE", "/uploads/{session_id}", "abortUpload",
        "Abort the upload and clean up storage (idempotent).", own.abort,
        action=Action.ABORT, response="Aborted", problems=(*_SESSION, *_STORAGE),
    ),
    _route(
        "POST", "/uploads/{session_id}/sign", "signUpload",
        "A fresh signature for a single PUT or POST.", own.sign,
        action=Action.SIGN, response="Signed", request=None, request_optional=True,
        problems=(*_SESSION, 409, 410, 415, 422, 502),
    ),
    _route(
        "POST", "/uploads/{session_id}/parts", "signParts",
        "Sign many multipart parts in one call.", own.sign_parts,
        action=Action.SIGN, response="SignedParts", request="SignPartsRequest",
        problems=(*_SESSION, 409, 410, 422, 502),
    ),
    _route(
        "GET", "/uploads/{session_id}/parts", "listParts",
        "The parts storage holds, and those still missing.", own.list_parts,
        action=Action.STATUS, response="Parts", problems=(*_SESSION, 422, *_STORAGE),
    ),
    _route(
        "GET", "/uploads/{session_id}/progress", "getProgress",
        "The bytes storage holds (resumable and multipart sessions).", own.progress,
        action=Action.STATUS, response="Progress", problems=(*_SESSION, 422, *_STORAGE),
    ),
    _route(
        "POST", "/uploads/{session_id}/complete", "completeUpload",
        "Verify the upload (assembling multipart parts first); a replay answers the same.",
        own.complete, action=Action.COMPLETE, response="Status", request="CompleteRequest",
        request_optional=True, problems=(*_SESSION, 410, 422, *_STORAGE),
    ),
    _route(
        "GET", "/uploads/{session_id}/download", "downloadUpload",
        "A signed GET of the upload's available asset.", own.download,
        action=Action.DOWNLOAD, response="SignedRequest", problems=(*_SESSION, 409, 422, 502),
        query=(
            QueryParam(
                "disposition", "inline (default) or attachment; active types are always "
                "attachment", enum=("inline", "attachment"),
            ),
        ),
    ),
    # -- Uppy's (@uppy/aws-s3 6.x, companionEndpoint) --------------------------------------
    _route(
        "GET", "/s3/params", "uppyParams",
        "Open a presigned-POST session for Uppy's single-file upload and sign its form.",
        uppy.params, action=Action.INITIATE, tag="uppy", response="UppyParams",
        problems=(404, 422, 502),
        query=(
            QueryParam("filename", "the file's name", required=True),
            QueryParam("type", "the file's media type (default application/octet-stream)"),
            QueryParam("metadata", "Uppy's file metadata, metadata[name]=value", deep_object=True),
        ),
    ),
    _route(
        "POST", "/s3/complete", "uppyComplete",
        "Verify a single-file upload; the page calls it on Uppy's upload-success.",
        uppy.complete, action=Action.COMPLETE, tag="uppy", response="UppyCompleted",
        problems=(*_SESSION, 410, *_STORAGE),
        query=(QueryParam("key", "the key Uppy reports in upload-success", required=True),),
    ),
    _route(
        "POST", "/s3/multipart", "uppyCreateMultipart", "Open a multipart session for Uppy.",
        uppy.create_multipart, action=Action.INITIATE, tag="uppy", response="UppyMultipart",
        request="UppyMultipartRequest", problems=(404, 422, 502),
    ),
    _route(
        "GET", "/s3/multipart/{upload_id}", "uppyListParts",
        "The parts storage holds (Uppy resumes from it).", uppy.list_parts,
        action=Action.STATUS, tag="uppy", response="UppyParts", query=(_KEY,),
        problems=(*_SESSION, 422, *_STORAGE),
    ),
    _route(
        "DELETE", "/s3/multipart/{upload_id}", "uppyAbortMultipart",
        "Abort the multipart upload (idempotent).", uppy.abort_multipart,
        action=Action.ABORT, tag="uppy", success=204, query=(_KEY,),
        problems=(*_SESSION, *_STORAGE),
    ),
    _route(
        "POST", "/s3/multipart/{upload_id}/complete", "uppyCompleteMultipart",
        "Assemble and verify the upload; a replay answers the same.", uppy.complete_multipart,
        action=Action.COMPLETE, tag="uppy", response="UppyCompleted",
        request="UppyCompleteRequest", query=(_KEY,), problems=(*_SESSION, 410, 422, *_STORAGE),
    ),
    _route(
        "GET", "/s3/multipart/{upload_id}/{part_number}", "uppySignPart",
        "Sign one part's PUT.", uppy.sign_part, action=Action.SIGN, tag="uppy",
        response="UppyPartUrl", query=(_KEY,), problems=(*_SESSION, 409, 410, 422, 502),
    ),
)  # fmt: skip


def match(method: str, path: str) -> tuple[Route | None, Mapping[str, str], tuple[str, ...]]:
    """The route for *method* and *path*, its path parameters, and the methods
    the path allows (to answer 405 when the path exists but not the method)."""
    allowed: list[str] = []
    for route in ROUTES:
        found = route.regex.fullmatch(path)
        if found is None:
            continue
        if route.method == method:
            return route, found.groupdict(), ()
        allowed.append(route.method)
    return None, {}, tuple(dict.fromkeys(allowed))
