"""Uppy's routes under ``/s3``: what ``@uppy/aws-s3`` 6.x sends to its
``companionEndpoint`` (``src/s3-client/CompanionS3.ts``), served through the broker.

Uppy's ``uploadId`` is the rindle session id and its ``key`` the session's
storage key. Neither is trusted alone: each request loads the session by
id, authorizes the caller, checks that the session is the caller's and that
``key`` is its key, and otherwise answers as for a session that does not
exist. Uppy's S3 wire names (``PartNumber``, ``ETag``) are translated here;
ETags are accepted quoted or not (after a resume Uppy mixes both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .._errors import InvalidArgument, InvalidParts, SessionNotFound
from ..models import UploadSession, VerifyResult
from ..storage import UploadedPart
from . import _problems as problems
from ._access import Action
from ._context import Call
from ._http import Response, json_response
from ._problems import HTTPProblem

__all__ = [
    "abort_multipart",
    "complete",
    "complete_multipart",
    "create_multipart",
    "list_parts",
    "params",
    "sign_part",
]

_METADATA_PARAM: Final = re.compile(r"metadata\[(?P<name>[^\[\]]{1,100})\]")
_PART_NUMBER: Final = re.compile(r"[0-9]{1,9}")
_DEFAULT_TYPE: Final = "application/octet-stream"


def _profile(call: Call) -> str:
    """The profile Uppy's new uploads go to."""
    name = call.settings.uppy_profile
    if name is None:
        raise HTTPProblem(
            problems.NOT_FOUND,
            "the Uppy routes are off: pass UploadAPI(..., uppy_profile=...) to choose "
            "the profile Uppy uploads to",
        )
    return name


def _session(call: Call, action: Action) -> UploadSession:
    """The session Uppy's ``uploadId`` names, if ``key`` is its key and it is the caller's."""
    key = call.query("key")
    session = call.session(action, call.params["upload_id"])
    if session.storage_key != key:
        raise SessionNotFound(session.id)
    return session


def _completed(call: Call, result: VerifyResult) -> Response:
    """``{location, key}``: where the upload's state can be read, and its key."""
    session = result.session
    return json_response(
        200, {"location": call.url(f"/uploads/{session.id}"), "key": session.storage_key}
    )


def params(call: Call) -> Response:
    """``GET /s3/params?filename=&type=&metadata[name]=``: open a presigned-POST
    session and sign its form; Uppy reads ``url`` and ``fields`` and POSTs."""
    profile = _profile(call)
    filename = call.query("filename")
    content_type = call.request.query_value("type") or _DEFAULT_TYPE
    metadata: dict[str, object] = {}
    for name, value in call.request.query:
        match = _METADATA_PARAM.fullmatch(name)
        if match:
            metadata[match["name"]] = value
    owner = call.owner(Action.INITIATE, profile)
    opened = call.broker.initiate_post_session(
        profile, filename=filename, content_type=content_type, owner=owner, metadata=metadata
    )
    form = call.broker.sign_post(opened.id).post
    return json_response(200, {"method": "POST", "url": form.url, "fields": dict(form.fields)})


def complete(call: Call) -> Response:
    """``POST /s3/complete?key=``: verify a single-file upload once Uppy reports
    ``upload-success`` (Uppy calls no endpoint after its POST: the page does)."""
    session = _session_by_key(call, call.query("key"), Action.COMPLETE)
    return _completed(call, call.broker.verify_completion(session.id))


def _session_by_key(call: Call, key: str, action: Action) -> UploadSession:
    """The caller's session uploading to *key*. No session, and another owner's,
    get the same answer, naming the key (never the other's session id)."""
    not_found = SessionNotFound(key[:200])
    newest = call.broker.list_sessions(storage_key=key, limit=1) if key else []
    if not newest:
        raise not_found
    try:
        return call.session(action, newest[0].id)
    except SessionNotFound:
        raise not_found from None


def create_multipart(call: Call) -> Response:
    """``POST /s3/multipart`` ``{filename, type, metadata}``: ``{uploadId, key}``."""
    body = call.body()
    profile = _profile(call)
    filename = call.text(body, "filename")
    content_type = body.get("type") or _DEFAULT_TYPE
    if not isinstance(content_type, str):
        raise InvalidArgument("'type' must be a string")
    metadata = call.mapping(body, "metadata")
    owner = call.owner(Action.INITIATE, profile)
    result = call.broker.initiate_multipart_session(
        profile, filename=filename, content_type=content_type, owner=owner, metadata=metadata
    )
    session = result.session
    return json_response(200, {"uploadId": session.id, "key": session.storage_key})


def sign_part(call: Call) -> Response:
    """``GET /s3/multipart/{uploadId}/{partNumber}?key=``: ``{url, headers}`` for one part."""
    raw = call.params["part_number"]
    if not _PART_NUMBER.fullmatch(raw):
        raise InvalidArgument("the part number must be a positive integer")
    session = _session(call, Action.SIGN)
    signed = call.broker.sign_multipart_part(session.id, int(raw)).presigned
    return json_response(200, {"url": signed.url, "headers": dict(signed.headers)})


def list_parts(call: Call) -> Response:
    """``GET /s3/multipart/{uploadId}?key=``: ``[{PartNumber, Size, ETag}]`` storage holds."""
    session = _session(call, Action.STATUS)
    held = call.broker.multipart_status(session.id)
    return json_response(
        200,
        [{"PartNumber": p.part_number, "Size": p.size, "ETag": p.etag} for p in held.parts],
    )


def complete_multipart(call: Call) -> Response:
    """``POST /s3/multipart/{uploadId}/complete?key=`` ``{parts: [{PartNumber, ETag}]}``:
    assemble and verify; a replay answers the same."""
    body = call.body()
    parts = _uppy_parts(body.get("parts"))
    session = _session(call, Action.COMPLETE)
    return _completed(call, call.broker.complete_multipart_upload(session.id, parts))


def abort_multipart(call: Call) -> Response:
    """``DELETE /s3/multipart/{uploadId}?key=``: abort the upload (idempotent)."""
    session = _session(call, Action.ABORT)
    call.broker.abort_session(session.id)
    return json_response(204, None)


def _uppy_parts(value: object) -> list[UploadedPart]:
    """Uppy's ``[{PartNumber, ETag}]`` as parts with quoted ETags (the broker checks the list)."""
    if not isinstance(value, list):
        raise InvalidParts("'parts' must be a list")
    return [_uppy_part(item) for item in value]


def _uppy_part(item: object) -> UploadedPart:
    if not isinstance(item, Mapping):
        raise InvalidParts("each part is an object with 'PartNumber' and 'ETag'")
    number, etag = item.get("PartNumber"), item.get("ETag")
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidParts("each part needs an integer 'PartNumber'")
    bare = etag.strip('"') if isinstance(etag, str) else ""
    if not bare:
        raise InvalidParts(f"part {number} needs its 'ETag'")
    return UploadedPart(number, f'"{bare}"')
