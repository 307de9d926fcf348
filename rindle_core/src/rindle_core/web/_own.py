"""rindle's own JSON routes under ``/uploads``: one operation per broker call a
browser needs, one documented shape per operation (see ``_shapes``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from .._downloads import Disposition
from .._errors import InvalidArgument, InvalidParts
from ..models import UploadSession
from ._access import Action
from ._context import Call
from ._http import Response, json_response
from ._shapes import (
    asset_json,
    part_json,
    profile_json,
    session_json,
    signed_form_json,
    signed_request_json,
)

__all__ = [
    "abort",
    "complete",
    "download",
    "initiate",
    "list_parts",
    "profile",
    "progress",
    "sign",
    "sign_parts",
    "status",
]

_INITIATE_FIELDS: Final = (
    "profile",
    "strategy",
    "filename",
    "content_type",
    "size",
    "part_size",
    "checksum_algorithm",
    "metadata",
)


def initiate(call: Call) -> Response:
    """``POST /uploads``: open a session in the caller's name and, for a single PUT
    or POST, sign it at once (one round trip before the bytes go)."""
    body = call.body()
    call.only(body, _INITIATE_FIELDS)
    profile = call.profile(body.get("profile"))
    strategy = body.get("strategy", "presigned_put")
    if not isinstance(strategy, str) or strategy not in _OPENERS:
        raise InvalidArgument(f"'strategy' must be one of {', '.join(_OPENERS)}")
    declared = _Declared(
        filename=call.text(body, "filename"),
        content_type=call.text(body, "content_type"),
        size=call.integer(body, "size"),
        part_size=call.integer(body, "part_size"),
        metadata=call.mapping(body, "metadata"),
        checksum_algorithm=call.optional_text(body, "checksum_algorithm"),
    )
    for field in ("part_size", "checksum_algorithm"):
        if getattr(declared, field) is not None and strategy != "multipart":
            raise InvalidArgument(f"'{field}' is only for the multipart strategy")
    owner = call.owner(Action.INITIATE, profile)
    session, extra = _OPENERS[strategy](call, profile, declared, owner)
    return json_response(
        201,
        {"session": session_json(session), **extra},
        headers=[("Location", call.url(f"/uploads/{session.id}"))],
    )


@dataclass(frozen=True, slots=True)
class _Declared:
    """What the client declared about its upload."""

    filename: str
    content_type: str
    size: int | None
    part_size: int | None
    metadata: Mapping[str, object] | None
    checksum_algorithm: str | None = None


_Opened = tuple[UploadSession, dict[str, object]]


def _open_put(call: Call, profile: str, d: _Declared, owner: str) -> _Opened:
    opened = call.broker.initiate_session(
        profile,
        filename=d.filename,
        content_type=d.content_type,
        size=d.size,
        owner=owner,
        metadata=d.metadata,
    )
    signed = call.broker.sign_url(opened.id)
    return signed.session, {"upload": signed_request_json(signed.presigned)}


def _open_post(call: Call, profile: str, d: _Declared, owner: str) -> _Opened:
    opened = call.broker.initiate_post_session(
        profile,
        filename=d.filename,
        content_type=d.content_type,
        size=d.size,
        owner=owner,
        metadata=d.metadata,
    )
    form = call.broker.sign_post(opened.id)
    return form.session, {"form": signed_form_json(form.post)}


def _open_multipart(call: Call, profile: str, d: _Declared, owner: str) -> _Opened:
    result = call.broker.initiate_multipart_session(
        profile,
        filename=d.filename,
        content_type=d.content_type,
        size=d.size,
        part_size=d.part_size,
        owner=owner,
        metadata=d.metadata,
        checksum_algorithm=d.checksum_algorithm,
    )
    upload = result.multipart
    return result.session, {
        "multipart": {
            "part_size": upload.part_size or result.session.part_size or 0,
            "part_count": upload.part_count,
            "part_headers": dict(upload.part_headers),
            "checksum_algorithm": upload.checksum_algorithm,
        }
    }


def _open_resumable(call: Call, profile: str, d: _Declared, owner: str) -> _Opened:
    result = call.broker.initiate_resumable_session(
        profile,
        filename=d.filename,
        content_type=d.content_type,
        size=d.size,
        origin=call.request.headers.get("origin"),
        owner=owner,
        metadata=d.metadata,
    )
    # The bearer URI goes to its owner, once: no other response shows it.
    return result.session, {
        "resumable": {
            "session_uri": result.resumable.session_uri,
            "expires_at": result.resumable.expires_at.isoformat(),
        }
    }


#: How each strategy opens (and, for a single PUT or POST, signs) a session.
_OPENERS: Final[Mapping[str, Callable[[Call, str, _Declared, str], _Opened]]] = {
    "presigned_put": _open_put,
    "presigned_post": _open_post,
    "multipart": _open_multipart,
    "resumable": _open_resumable,
}


def profile(call: Call) -> Response:
    """``GET /profiles/{profile}``: what an upload in the profile may be (size, types)
    and how it may go (strategies, part sizes, part checksums), for whoever may
    upload in it."""
    name = call.profile(call.params["profile"])
    call.owner(Action.INITIATE, name)
    broker = call.broker
    return json_response(200, profile_json(broker.profiles[name], broker.storage_for(name)))


def status(call: Call) -> Response:
    """``GET /uploads/{session_id}``: the session and its asset."""
    session = call.session(Action.STATUS, call.params["session_id"])
    asset = call.broker.get_asset(session.asset_id)
    return json_response(200, {"session": session_json(session), "asset": asset_json(asset)})


def sign(call: Call) -> Response:
    """``POST /uploads/{session_id}/sign``: a fresh signature for a single PUT or POST."""
    call.only(call.body(optional=True), ())
    session = call.session(Action.SIGN, call.params["session_id"])
    if session.upload_strategy == "presigned_post":
        form = call.broker.sign_post(session.id)
        return json_response(
            200, {"session": session_json(form.session), "form": signed_form_json(form.post)}
        )
    signed = call.broker.sign_url(session.id)
    return json_response(
        200,
        {"session": session_json(signed.session), "upload": signed_request_json(signed.presigned)},
    )


def sign_parts(call: Call) -> Response:
    """``POST /uploads/{session_id}/parts``: sign many parts in one round trip."""
    body = call.body()
    call.only(body, ("part_numbers", "checksums"))
    numbers, checksums = body.get("part_numbers"), body.get("checksums")
    if not isinstance(numbers, list):
        raise InvalidArgument("'part_numbers' must be a list of integers")
    if checksums is not None and not isinstance(checksums, list):
        raise InvalidArgument("'checksums' must be a list of strings")
    session = call.session(Action.SIGN, call.params["session_id"])
    signed = call.broker.sign_multipart_parts(session.id, numbers, checksums=checksums)
    return json_response(
        200,
        {
            "session": session_json(signed.session),
            "parts": [signed_request_json(part) for part in signed.parts],
        },
    )


def list_parts(call: Call) -> Response:
    """``GET /uploads/{session_id}/parts``: the parts storage holds, and those missing."""
    session = call.session(Action.STATUS, call.params["session_id"])
    held = call.broker.multipart_status(session.id)
    return json_response(
        200,
        {
            "session": session_json(held.session),
            "parts": [part_json(part) for part in held.parts],
            "missing_part_numbers": list(held.missing_part_numbers),
            "committed_bytes": held.committed_bytes,
        },
    )


def progress(call: Call) -> Response:
    """``GET /uploads/{session_id}/progress``: the bytes storage holds (resumable, multipart)."""
    session = call.session(Action.STATUS, call.params["session_id"])
    result = call.broker.resumable_session_status(session.id)
    return json_response(
        200,
        {
            "session": session_json(result.session),
            "state": result.status.state,
            "committed_bytes": result.status.committed_bytes,
        },
    )


def complete(call: Call) -> Response:
    """``POST /uploads/{session_id}/complete``: verify (and, for multipart, assemble)
    the upload; a replay answers the same."""
    body = call.body(optional=True)
    call.only(body, ("parts",))
    parts = _parts(body["parts"]) if body.get("parts") is not None else None
    session = call.session(Action.COMPLETE, call.params["session_id"])
    if session.upload_strategy == "multipart":
        result = call.broker.complete_multipart_upload(session.id, parts)
    elif parts is not None:
        raise InvalidArgument("'parts' is only for multipart sessions")
    else:
        result = call.broker.verify_completion(session.id)
    return json_response(
        200, {"session": session_json(result.session), "asset": asset_json(result.asset)}
    )


def _parts(value: object) -> list[Mapping[str, object]]:
    """A client's ``[{part_number, etag, checksum}]``, its fields named as the API names
    them (the broker checks the rest: numbers, ETags, checksums in the session's algorithm)."""
    if not isinstance(value, list):
        raise InvalidParts("'parts' must be a list")
    for item in value:
        if not isinstance(item, dict) or set(item) - {"part_number", "etag", "checksum"}:
            raise InvalidParts(
                "each part is an object with 'part_number', 'etag' and, where the"
                " session binds checksums, 'checksum'"
            )
    return value


def abort(call: Call) -> Response:
    """``DELETE /uploads/{session_id}``: abort the upload (idempotent)."""
    session = call.session(Action.ABORT, call.params["session_id"])
    if session.upload_strategy == "resumable":
        aborted = call.broker.cancel_resumable_session(session.id)
    else:
        aborted = call.broker.abort_session(session.id)
    return json_response(200, {"session": session_json(aborted)})


def download(call: Call) -> Response:
    """``GET /uploads/{session_id}/download``: a signed GET of the available asset."""
    disposition = _disposition(call.request.query_value("disposition"))
    session = call.session(Action.DOWNLOAD, call.params["session_id"])
    signed = call.broker.download_url(session.asset_id, disposition=disposition)
    return json_response(200, signed_request_json(signed))


def _disposition(value: str | None) -> Disposition | None:
    if value is None:
        return None
    if value == "inline":
        return "inline"
    if value == "attachment":
        return "attachment"
    raise InvalidArgument("'disposition' must be 'inline' or 'attachment'")
