"""Problem details (RFC 9457): every error the HTTP layer answers, and its status.

Each :class:`~rindle_core.RindleError` type maps to exactly one problem type
(one status). A client's mistake (4xx) carries the error's own message as
``detail``: rindle's messages never hold secrets. A server-side failure
(storage, database, configuration, a bug) carries a fixed ``detail`` that
says what kind of failure it was and nothing about the infrastructure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from .. import _errors as errors
from ..jobs import PermanentJobError
from ._http import PROBLEM_JSON, Response, json_response

__all__ = [
    "ERROR_PROBLEMS",
    "PROBLEM_BASE",
    "HTTPProblem",
    "ProblemType",
    "problem_for",
    "problem_response",
]

#: Where each problem type is documented (``docs/web.md`` has one heading per type).
PROBLEM_BASE: Final = "https://github.com/rindle-py/rindle/blob/main/docs/web.md#"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of problem: its slug (the ``type`` URI's fragment), status and title.

    ``fixed_detail`` is the ``detail`` of a server-side problem; None means the
    error's own (secret-free) message is the detail.
    """

    slug: str
    status: int
    title: str
    fixed_detail: str | None = None

    @property
    def uri(self) -> str:
        """The ``type`` member: the documentation of this problem type."""
        return PROBLEM_BASE + self.slug


def _server(slug: str, status: int, title: str, detail: str) -> ProblemType:
    return ProblemType(slug, status, title, detail)


# -- problems of the HTTP layer itself ---------------------------------------------

MALFORMED_REQUEST: Final = ProblemType("malformed-request", 400, "Malformed request")
UNAUTHORIZED: Final = ProblemType("unauthorized", 401, "Not authenticated")
FORBIDDEN: Final = ProblemType("forbidden", 403, "Not allowed")
AUTHORIZATION_NOT_CONFIGURED: Final = ProblemType(
    "authorization-not-configured", 403, "Authorization not configured"
)
NOT_FOUND: Final = ProblemType("not-found", 404, "No such route")
METHOD_NOT_ALLOWED: Final = ProblemType("method-not-allowed", 405, "Method not allowed")
PAYLOAD_TOO_LARGE: Final = ProblemType("payload-too-large", 413, "Request body too large")
UNSUPPORTED_MEDIA_TYPE: Final = ProblemType("unsupported-media-type", 415, "Unsupported media type")
INTERNAL_ERROR: Final = _server(
    "internal-error", 500, "Internal error", "the request could not be handled"
)

MISCONFIGURED: Final = _server(
    "server-misconfigured",
    500,
    "Server misconfigured",
    "the server's upload configuration is invalid",
)

#: Every rindle error type, and the problem it is answered with. Looked up
#: along the exception's MRO, but every public type has its own entry (a
#: test checks it), so a new error type is a decision, not an accident.
ERROR_PROBLEMS: Final[Mapping[type[errors.RindleError], ProblemType]] = MappingProxyType(
    {
        errors.InvalidParts: ProblemType("invalid-parts", 400, "Invalid part list"),
        errors.InvalidArgument: ProblemType("invalid-argument", 400, "Invalid argument"),
        errors.UnknownProfile: ProblemType("unknown-profile", 404, "Unknown profile"),
        errors.SessionNotFound: ProblemType("session-not-found", 404, "Upload session not found"),
        errors.AssetNotFound: ProblemType("asset-not-found", 404, "Asset not found"),
        errors.AssetNotAvailable: ProblemType("asset-not-available", 409, "Asset not available"),
        errors.InvalidTransition: ProblemType(
            "invalid-transition", 409, "Not possible in the session's state"
        ),
        errors.StorageObjectMissing: ProblemType("object-missing", 409, "Nothing uploaded yet"),
        errors.StorageConflict: _server(
            "storage-conflict",
            409,
            "Storage conflict",
            "storage holds another object under this upload's key",
        ),
        errors.StorageNotFound: _server(
            "storage-not-found",
            409,
            "Remote upload gone",
            "storage no longer holds this upload",
        ),
        errors.SessionExpired: ProblemType("session-expired", 410, "Upload session expired"),
        errors.PolicyViolation: ProblemType("policy-violation", 422, "Refused by the policy"),
        errors.UploadUnsupported: ProblemType(
            "upload-unsupported", 422, "Not supported by this storage"
        ),
        errors.StorageError: _server(
            "storage-error", 502, "Storage error", "the storage backend refused or failed"
        ),
        errors.TransferFailed: _server(
            "transfer-failed", 502, "Transfer failed", "a transfer to storage failed"
        ),
        errors.StorageUnavailable: _server(
            "storage-unavailable",
            503,
            "Storage unavailable",
            "the storage backend is unavailable; retry later",
        ),
        errors.DatabaseError: _server(
            "database-unavailable",
            503,
            "Database unavailable",
            "the database refused or failed; retry later",
        ),
        errors.ConfigurationError: MISCONFIGURED,
        errors.InvalidProfile: MISCONFIGURED,
        errors.UnknownStorage: MISCONFIGURED,
        # A job handler's failure: never an HTTP request's, but a rindle error all the same.
        PermanentJobError: INTERNAL_ERROR,
        errors.RindleError: INTERNAL_ERROR,
    }
)

#: Seconds a client is asked to wait before retrying a 503.
RETRY_AFTER: Final = "5"


class HTTPProblem(Exception):
    """Raised inside the HTTP layer to answer with a problem (never escapes it)."""

    def __init__(
        self,
        problem: ProblemType,
        detail: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.headers = tuple(headers)


def problem_response(
    problem: ProblemType,
    detail: str,
    *,
    extra: Mapping[str, object] | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """An ``application/problem+json`` response; *extra* adds extension members."""
    body: dict[str, object] = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
    }
    body.update(extra or {})
    if problem.status == 503:
        headers = (*headers, ("Retry-After", RETRY_AFTER))
    return json_response(problem.status, body, content_type=PROBLEM_JSON, headers=headers)


def problem_type_of(exc: errors.RindleError) -> ProblemType:
    """The problem type of *exc*: its class's entry, else its nearest base's."""
    for cls in type(exc).__mro__:
        if issubclass(cls, errors.RindleError) and cls in ERROR_PROBLEMS:
            return ERROR_PROBLEMS[cls]
    return INTERNAL_ERROR


def problem_for(exc: errors.RindleError) -> Response:
    """The problem response for a rindle error, with its non-secret extension members."""
    problem = problem_type_of(exc)
    detail = problem.fixed_detail if problem.fixed_detail is not None else str(exc)
    return problem_response(problem, detail, extra=_extension(exc))


def _extension(exc: errors.RindleError) -> dict[str, object]:
    """Machine-readable members a client can act on (all of them safe to show)."""
    if isinstance(exc, errors.PolicyViolation):
        return {"reason": exc.reason}
    if isinstance(exc, errors.InvalidParts) and exc.missing:
        return {"missing_part_numbers": list(exc.missing)}
    if isinstance(exc, errors.InvalidTransition):
        return {"state": exc.from_state}
    if isinstance(exc, errors.AssetNotAvailable):
        return {"state": exc.state}
    return {}
