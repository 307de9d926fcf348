"""rindle: durable direct-to-storage uploads whose lifecycle lives in your SQL database."""

from __future__ import annotations

import logging

from ._broker import Broker, JobMode
from ._errors import (
    AssetNotAvailable,
    AssetNotFound,
    ConfigurationError,
    DatabaseError,
    InvalidArgument,
    InvalidParts,
    InvalidProfile,
    InvalidTransition,
    PolicyViolation,
    RindleError,
    SessionExpired,
    SessionNotFound,
    StorageConflict,
    StorageError,
    StorageNotFound,
    StorageObjectMissing,
    StorageUnavailable,
    TransferFailed,
    UnknownProfile,
    UnknownStorage,
    UploadUnsupported,
)
from .db import Database
from .jobs import JobOutcome, JobRunner, PermanentJobError
from .models import (
    Asset,
    Job,
    MaintenanceReport,
    MultipartResult,
    MultipartStatusResult,
    ResumableResult,
    ResumableStatusResult,
    SignBatchResult,
    SignPostResult,
    SignResult,
    UploadSession,
    VerifyResult,
)
from .plugins import hookimpl
from .profiles import Profile
from .states import AssetState, JobState, SessionState, transition
from .storage import (
    Capability,
    HeadResult,
    MultipartUpload,
    PartLimits,
    PresignedPost,
    PresignedRequest,
    ResumableStatus,
    ResumableUpload,
    StorageAdapter,
    UploadedPart,
)

# A library logs, the host decides what is shown: without this handler the
# stdlib's last-resort handler would print rindle's warnings to stderr.
logging.getLogger("rindle").addHandler(logging.NullHandler())

__all__ = [
    "Asset",
    "AssetNotAvailable",
    "AssetNotFound",
    "AssetState",
    "Broker",
    "Capability",
    "ConfigurationError",
    "Database",
    "DatabaseError",
    "HeadResult",
    "InvalidArgument",
    "InvalidParts",
    "InvalidProfile",
    "InvalidTransition",
    "Job",
    "JobMode",
    "JobOutcome",
    "JobRunner",
    "JobState",
    "MaintenanceReport",
    "MultipartResult",
    "MultipartStatusResult",
    "MultipartUpload",
    "PartLimits",
    "PermanentJobError",
    "PolicyViolation",
    "PresignedPost",
    "PresignedRequest",
    "Profile",
    "ResumableResult",
    "ResumableStatus",
    "ResumableStatusResult",
    "ResumableUpload",
    "RindleError",
    "SessionExpired",
    "SessionNotFound",
    "SessionState",
    "SignBatchResult",
    "SignPostResult",
    "SignResult",
    "StorageAdapter",
    "StorageConflict",
    "StorageError",
    "StorageNotFound",
    "StorageObjectMissing",
    "StorageUnavailable",
    "TransferFailed",
    "UnknownProfile",
    "UnknownStorage",
    "UploadSession",
    "UploadUnsupported",
    "UploadedPart",
    "VerifyResult",
    "hookimpl",
    "transition",
]


#: Names merged into one type per concept: they still work, deprecated, for one release.
_DEPRECATED = {
    "MultipartInfo": "MultipartUpload",
    "MultipartInit": "MultipartUpload",
    "ResumableInfo": "ResumableUpload",
    "ResumableInit": "ResumableUpload",
}


def __getattr__(name: str) -> object:
    if name not in _DEPRECATED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    warnings.warn(
        f"rindle_core.{name} is deprecated: use rindle_core.{_DEPRECATED[name]}",
        DeprecationWarning,
        stacklevel=2,
    )
    return globals()[_DEPRECATED[name]]
