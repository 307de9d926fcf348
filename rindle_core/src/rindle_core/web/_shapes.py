"""The JSON shapes the API answers with, each beside its JSON Schema.

A shape leaves out what a browser has no business seeing: the session's
owner, its storage's configured name, the backend's own upload id, a
resumable session URI (except in the one response that hands it to its
owner), stored fingerprints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

from .._frozen import thaw
from ..models import Asset, UploadSession
from ..profiles import Profile
from ..states import AssetState, SessionState
from ..storage import (
    Capability,
    PresignedPost,
    PresignedRequest,
    StorageAdapter,
    UploadedPart,
    capabilities_of,
    supports_multipart,
)

__all__ = [
    "SCHEMAS",
    "asset_json",
    "part_json",
    "profile_json",
    "ref",
    "session_json",
    "signed_form_json",
    "signed_request_json",
]


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def session_json(session: UploadSession) -> dict[str, object]:
    """The ``Session`` shape."""
    return {
        "id": session.id,
        "asset_id": session.asset_id,
        "profile": session.profile,
        "state": session.state.value,
        "strategy": session.upload_strategy,
        "storage_key": session.storage_key,
        "content_type": session.content_type,
        "declared_size": session.declared_size,
        "part_size": session.part_size,
        "checksum_algorithm": session.checksum_algorithm,
        "committed_bytes": session.committed_bytes,
        "expires_at": _time(session.expires_at),
        "created_at": _time(session.created_at),
        "updated_at": _time(session.updated_at),
        "verified_at": _time(session.verified_at),
        "failure_reason": session.failure_reason,
        "metadata": thaw(session.metadata),
    }


def asset_json(asset: Asset) -> dict[str, object]:
    """The ``Asset`` shape."""
    return {
        "id": asset.id,
        "state": asset.state.value,
        "filename": asset.filename,
        "content_type": asset.content_type or asset.declared_content_type,
        "byte_size": asset.byte_size,
        "quarantine_reason": asset.quarantine_reason,
        "created_at": _time(asset.created_at),
        "updated_at": _time(asset.updated_at),
    }


def signed_request_json(request: PresignedRequest) -> dict[str, object]:
    """The ``SignedRequest`` shape: send exactly this method, URL and headers."""
    shape: dict[str, object] = {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers),
        "expires_at": _time(request.expires_at),
    }
    if request.part_number is not None:
        shape["part_number"] = request.part_number
    return shape


def signed_form_json(post: PresignedPost) -> dict[str, object]:
    """The ``SignedForm`` shape: POST ``fields`` then the file as ``file``, multipart/form-data."""
    return {
        "method": "POST",
        "url": post.url,
        "fields": dict(post.fields),
        "expires_at": _time(post.expires_at),
    }


def part_json(part: UploadedPart) -> dict[str, object]:
    """The ``Part`` shape."""
    return {
        "part_number": part.part_number,
        "etag": part.etag,
        "size": part.size,
        "checksum": part.checksum.value if part.checksum is not None else None,
    }


#: The strategy each capability allows, in the order the shape lists them.
_STRATEGY_OF: Final = (
    (Capability.PRESIGNED_PUT, "presigned_put"),
    (Capability.PRESIGNED_POST, "presigned_post"),
    (Capability.MULTIPART_UPLOAD, "multipart"),
    (Capability.RESUMABLE_UPLOAD, "resumable"),
)


def profile_json(profile: Profile, storage: StorageAdapter) -> dict[str, object]:
    """The ``Profile`` shape: what an upload in *profile* may be, and how it may go
    (never the storage's name, bucket or credentials)."""
    capabilities = capabilities_of(storage)
    multipart: dict[str, object] | None = None
    if supports_multipart(storage):
        limits = storage.part_limits
        multipart = {
            "part_size": min(max(profile.part_size, limits.min_part_size), limits.max_part_size),
            "min_part_size": limits.min_part_size,
            "max_part_size": limits.max_part_size,
            "max_parts": limits.max_parts,
            "checksum_algorithms": sorted(limits.checksum_algorithms),
        }
    return {
        "name": profile.name,
        "strategies": [name for capability, name in _STRATEGY_OF if capability in capabilities],
        "max_bytes": profile.max_bytes,
        "min_bytes": profile.min_bytes,
        "allow_mime": sorted(profile.allow_mime),
        "allow_extensions": sorted(profile.allow_extensions),
        "part_size": profile.part_size,
        "multipart": multipart,
    }


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema *name*."""
    return {"$ref": f"#/components/schemas/{name}"}


_STRING: Final = {"type": "string"}
_OPT_STRING: Final = {"type": ["string", "null"]}
_TIME: Final = {"type": "string", "format": "date-time"}
_OPT_TIME: Final = {"type": ["string", "null"], "format": "date-time"}
_OPT_INT: Final = {"type": ["integer", "null"], "minimum": 0}
_COUNT: Final = {"type": "integer", "minimum": 0}
_STRATEGY: Final = {"enum": ["presigned_put", "presigned_post", "multipart", "resumable"]}
_STRING_MAP: Final = {"type": "object", "additionalProperties": {"type": "string"}}


def _object(
    properties: Mapping[str, object], *, optional: tuple[str, ...] = ()
) -> dict[str, object]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


#: The component schemas: every shape above, and the request bodies.
SCHEMAS: Final[Mapping[str, Mapping[str, object]]] = {
    "Session": _object(
        {
            "id": _STRING,
            "asset_id": _STRING,
            "profile": _STRING,
            "state": {"enum": [state.value for state in SessionState]},
            "strategy": _STRATEGY,
            "storage_key": _STRING,
            "content_type": _STRING,
            "declared_size": _OPT_INT,
            "part_size": _OPT_INT,
            "checksum_algorithm": _OPT_STRING,
            "committed_bytes": _COUNT,
            "expires_at": _TIME,
            "created_at": _TIME,
            "updated_at": _TIME,
            "verified_at": _OPT_TIME,
            "failure_reason": {"type": ["string", "null"]},
            "metadata": {"type": "object"},
        }
    ),
    "Asset": _object(
        {
            "id": _STRING,
            "state": {"enum": [state.value for state in AssetState]},
            "filename": _STRING,
            "content_type": {"type": ["string", "null"]},
            "byte_size": _OPT_INT,
            "quarantine_reason": {"type": ["string", "null"]},
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    ),
    "SignedRequest": _object(
        {
            "method": {"enum": ["GET", "PUT"]},
            "url": _STRING,
            "headers": _STRING_MAP,
            "expires_at": _OPT_TIME,
            "part_number": {"type": "integer", "minimum": 1},
        },
        optional=("part_number",),
    ),
    "SignedForm": _object(
        {
            "method": {"const": "POST"},
            "url": _STRING,
            "fields": _STRING_MAP,
            "expires_at": _TIME,
        }
    ),
    "Part": _object(
        {
            "part_number": {"type": "integer", "minimum": 1},
            "etag": {"type": ["string", "null"]},
            "size": _OPT_INT,
            "checksum": _OPT_STRING,
        }
    ),
    "Profile": _object(
        {
            "name": _STRING,
            "strategies": {"type": "array", "items": _STRATEGY},
            "max_bytes": _OPT_INT,
            "min_bytes": _COUNT,
            "allow_mime": {"type": "array", "items": _STRING},
            "allow_extensions": {"type": "array", "items": _STRING},
            "part_size": {"type": "integer", "minimum": 1},
            "multipart": {
                "oneOf": [
                    {"type": "null"},
                    _object(
                        {
                            "part_size": {"type": "integer", "minimum": 1},
                            "min_part_size": {"type": "integer", "minimum": 1},
                            "max_part_size": {"type": "integer", "minimum": 1},
                            "max_parts": {"type": "integer", "minimum": 1},
                            "checksum_algorithms": {"type": "array", "items": _STRING},
                        }
                    ),
                ]
            },
        }
    ),
    "Problem": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": _STRING,
            "status": {"type": "integer"},
            "detail": _STRING,
            "reason": _STRING,
            "state": _STRING,
            "missing_part_numbers": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["type", "title", "status", "detail"],
    },
    # -- request bodies ------------------------------------------------------------
    "InitiateRequest": _object(
        {
            "profile": _STRING,
            "strategy": _STRATEGY,
            "filename": _STRING,
            "content_type": _STRING,
            "size": _OPT_INT,
            "part_size": {"type": ["integer", "null"], "minimum": 1},
            "checksum_algorithm": {"enum": ["crc32", None]},
            "metadata": {"type": "object"},
        },
        optional=("strategy", "size", "part_size", "checksum_algorithm", "metadata"),
    ),
    "SignPartsRequest": _object(
        {
            "part_numbers": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1},
                "minItems": 1,
                "maxItems": 1000,
            },
            "checksums": {"type": "array", "items": _STRING, "minItems": 1, "maxItems": 1000},
        },
        optional=("checksums",),
    ),
    "CompleteRequest": _object(
        {
            "parts": {
                "type": "array",
                "items": _object(
                    {
                        "part_number": {"type": "integer", "minimum": 1},
                        "etag": _STRING,
                        "checksum": _STRING,
                    },
                    optional=("etag", "checksum"),
                ),
            }
        },
        optional=("parts",),
    ),
    # -- responses of rindle's own routes --------------------------------------------
    "Initiated": _object(
        {
            "session": ref("Session"),
            "upload": ref("SignedRequest"),
            "form": ref("SignedForm"),
            "multipart": _object(
                {
                    "part_size": _COUNT,
                    "part_count": _OPT_INT,
                    "part_headers": _STRING_MAP,
                    "checksum_algorithm": _OPT_STRING,
                }
            ),
            "resumable": _object({"session_uri": _STRING, "expires_at": _TIME}),
        },
        optional=("upload", "form", "multipart", "resumable"),
    ),
    "Status": _object({"session": ref("Session"), "asset": ref("Asset")}),
    "Signed": _object(
        {"session": ref("Session"), "upload": ref("SignedRequest"), "form": ref("SignedForm")},
        optional=("upload", "form"),
    ),
    "SignedParts": _object(
        {"session": ref("Session"), "parts": {"type": "array", "items": ref("SignedRequest")}}
    ),
    "Parts": _object(
        {
            "session": ref("Session"),
            "parts": {"type": "array", "items": ref("Part")},
            "missing_part_numbers": {"type": "array", "items": {"type": "integer"}},
            "committed_bytes": _COUNT,
        }
    ),
    "Progress": _object(
        {
            "session": ref("Session"),
            "state": {"enum": ["in_progress", "complete", "expired"]},
            "committed_bytes": _COUNT,
        }
    ),
    "Aborted": _object({"session": ref("Session")}),
    # -- Uppy's shapes (@uppy/aws-s3 with a companionEndpoint) ------------------------
    "UppyParams": _object({"method": {"const": "POST"}, "url": _STRING, "fields": _STRING_MAP}),
    "UppyMultipartRequest": {
        "type": "object",
        "properties": {"filename": _STRING, "type": _STRING, "metadata": {"type": "object"}},
        "required": ["filename"],
    },
    "UppyMultipart": _object({"uploadId": _STRING, "key": _STRING}),
    "UppyPartUrl": _object({"url": _STRING, "headers": _STRING_MAP}),
    "UppyParts": {
        "type": "array",
        "items": _object(
            {
                "PartNumber": {"type": "integer", "minimum": 1},
                "Size": _OPT_INT,
                "ETag": {"type": ["string", "null"]},
            }
        ),
    },
    "UppyCompleteRequest": {
        "type": "object",
        "properties": {
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"PartNumber": {"type": "integer"}, "ETag": _STRING},
                    "required": ["PartNumber", "ETag"],
                },
            }
        },
        "required": ["parts"],
    },
    "UppyCompleted": _object({"location": _STRING, "key": _STRING}),
}
